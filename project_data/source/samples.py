"""Hand-labeled seed samples for the reward model: correct pairs and pairs with realistic mistakes.

A negative sample's comment says what is wrong with its SQL.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Sample:
    """A question, a candidate SQL, the tables it is about, and whether the SQL is right."""

    question: str
    sql: str
    tables: tuple[str, ...]
    label: bool


SAMPLES: tuple[Sample, ...] = (
    # --- correct ----------------------------------------------------------------------------------------------
    Sample(
        "How many regions are currently in preview?",
        "SELECT COUNT(*) FROM regions WHERE status = 'preview'",
        ("regions",),
        True,
    ),
    Sample(
        "Which availability zones are impaired at the moment?",
        "SELECT zone_id, region_id FROM availability_zones WHERE status = 'impaired'",
        ("availability_zones",),
        True,
    ),
    Sample(
        "What is the combined power capacity of the zones in us-east-1?",
        "SELECT SUM(power_capacity_kw) FROM availability_zones WHERE region_id = 'us-east-1'",
        ("availability_zones",),
        True,
    ),
    Sample(
        "Which tenants have not passed verification yet?",
        "SELECT tenant_id, tenant_name FROM tenants WHERE NOT is_verified",
        ("tenants",),
        True,
    ),
    Sample(
        "How many enterprise tenants pay yearly?",
        "SELECT COUNT(*) FROM tenants WHERE support_plan = 'enterprise' AND billing_cycle = 'yearly'",
        ("tenants",),
        True,
    ),
    Sample(
        "How many hosts are decommissioned?",
        "SELECT COUNT(*) FROM hosts WHERE status = 'decommissioned'",
        ("hosts",),
        True,
    ),
    Sample(
        "Which online hosts have at least 1024 GB of memory?",
        "SELECT hostname, memory_gb FROM hosts WHERE status = 'online' AND memory_gb >= 1024",
        ("hosts",),
        True,
    ),
    Sample(
        "How many physical cores do the online hosts in eu-central-1a have in total?",
        "SELECT SUM(cpu_cores) FROM hosts WHERE zone_id = 'eu-central-1a' AND status = 'online'",
        ("hosts",),
        True,
    ),
    Sample(
        "Which instances are exposed through the sg-ssh-open security group and still running?",
        "SELECT instance_id, instance_name FROM instances WHERE security_group = 'sg-ssh-open' AND status = 'running'",
        ("instances",),
        True,
    ),
    Sample(
        "How many instances are in error state?",
        "SELECT COUNT(*) FROM instances WHERE status = 'error'",
        ("instances",),
        True,
    ),
    Sample(
        "How many vCPUs are allocated to running instances in total?",
        "SELECT SUM(vcpus) FROM instances WHERE status = 'running'",
        ("instances",),
        True,
    ),
    Sample(
        "What is the most expensive hourly price of any running Windows instance?",
        "SELECT MAX(hourly_price) FROM instances WHERE status = 'running' AND os_image LIKE 'Windows%'",
        ("instances",),
        True,
    ),
    Sample(
        "Which instances have been pending since October 30?",
        "SELECT instance_id, launched_at FROM instances WHERE status = 'pending' "
        "AND launched_at >= TIMESTAMP '2026-10-30 00:00:00'",
        ("instances",),
        True,
    ),
    Sample(
        "How many detached volumes are there?",
        "SELECT COUNT(*) FROM volumes WHERE status = 'available'",
        ("volumes",),
        True,
    ),
    Sample(
        "What is the average size of nvme volumes?",
        "SELECT AVG(size_gb) FROM volumes WHERE volume_type = 'nvme'",
        ("volumes",),
        True,
    ),
    Sample(
        "Which volumes are in error state and which tenant owns them?",
        "SELECT volume_id, tenant_id FROM volumes WHERE status = 'error'",
        ("volumes",),
        True,
    ),
    Sample("How many alarms are still open?", "SELECT COUNT(*) FROM alarms WHERE status = 'open'", ("alarms",), True),
    Sample(
        "Show the number of alarms for each metric.",
        "SELECT metric_name, COUNT(*) AS alarms FROM alarms GROUP BY metric_name",
        ("alarms",),
        True,
    ),
    Sample(
        "What was the average time to resolve critical alarms, in minutes?",
        "SELECT AVG(date_diff('minute', triggered_at, resolved_at)) FROM alarms "
        "WHERE severity = 'critical' AND status = 'resolved'",
        ("alarms",),
        True,
    ),
    Sample(
        "How many alarms fired in September 2026?",
        "SELECT COUNT(*) FROM alarms WHERE triggered_at >= DATE '2026-09-01' AND triggered_at < DATE '2026-10-01'",
        ("alarms",),
        True,
    ),
    Sample(
        "What is the total overdue amount across all invoices?",
        "SELECT SUM(total_amount) FROM invoices WHERE payment_status = 'overdue'",
        ("invoices",),
        True,
    ),
    Sample(
        "Which invoices are disputed?",
        "SELECT invoice_id, tenant_id, total_amount FROM invoices WHERE payment_status = 'disputed'",
        ("invoices",),
        True,
    ),
    Sample(
        "What share of the June 2026 bill was compute?",
        "SELECT SUM(compute_cost) / SUM(total_amount) FROM invoices WHERE billing_month = DATE '2026-06-01'",
        ("invoices",),
        True,
    ),
    Sample(
        "Which quotas are completely used up?",
        "SELECT tenant_id, resource_type FROM quotas WHERE used_amount >= quota_limit",
        ("quotas",),
        True,
    ),
    Sample(
        "What is the largest vCPU quota any tenant has?",
        "SELECT MAX(quota_limit) FROM quotas WHERE resource_type = 'vcpus'",
        ("quotas",),
        True,
    ),
    Sample(
        "How many instances does each tenant in the gaming industry run?",
        "SELECT t.tenant_name, COUNT(*) AS running FROM instances i JOIN tenants t ON i.tenant_id = t.tenant_id "
        "WHERE t.industry = 'gaming' AND i.status = 'running' GROUP BY t.tenant_name",
        ("instances", "tenants"),
        True,
    ),
    Sample(
        "Which country has the most hosts?",
        "SELECT r.country, COUNT(*) AS hosts FROM hosts h JOIN availability_zones z ON h.zone_id = z.zone_id "
        "JOIN regions r ON z.region_id = r.region_id GROUP BY r.country ORDER BY hosts DESC LIMIT 1",
        ("hosts", "availability_zones", "regions"),
        True,
    ),
    Sample(
        "Which running instances sit on hosts that are offline or in maintenance?",
        "SELECT i.instance_id, h.hostname, h.status FROM instances i JOIN hosts h ON i.host_id = h.host_id "
        "WHERE i.status = 'running' AND h.status IN ('offline', 'maintenance')",
        ("instances", "hosts"),
        True,
    ),
    Sample(
        "Which unverified tenants have overdue invoices?",
        "SELECT DISTINCT t.tenant_name FROM tenants t JOIN invoices v ON v.tenant_id = t.tenant_id "
        "WHERE NOT t.is_verified AND v.payment_status = 'overdue'",
        ("tenants", "invoices"),
        True,
    ),
    Sample(
        "Which five hosts have the most critical alarms on their instances?",
        "SELECT h.hostname, COUNT(*) AS critical_alarms FROM alarms a JOIN instances i ON a.instance_id = i.instance_id "
        "JOIN hosts h ON i.host_id = h.host_id WHERE a.severity = 'critical' GROUP BY h.hostname "
        "ORDER BY critical_alarms DESC, h.hostname LIMIT 5",
        ("alarms", "instances", "hosts"),
        True,
    ),
    Sample(
        "Find hosts whose rack id starts with R01.",
        "SELECT hostname, rack_id FROM hosts WHERE rack_id LIKE 'R01-%'",
        ("hosts",),
        True,
    ),
    Sample(
        "Which alarms mention a jenkins machine?",
        "SELECT alarm_id, message FROM alarms WHERE message ILIKE '%jenkins%'",
        ("alarms",),
        True,
    ),
    Sample(
        "Which regions are in the United States?",
        "SELECT region_id, region_name FROM regions WHERE country = 'United States'",
        ("regions",),
        True,
    ),
    Sample(
        "How many volumes were created in March 2026?",
        "SELECT COUNT(*) FROM volumes WHERE created_at BETWEEN DATE '2026-03-01' AND DATE '2026-03-31'",
        ("volumes",),
        True,
    ),
    # --- incorrect --------------------------------------------------------------------------------------------
    # Wrong column: counts zones per region instead of filtering on zone status.
    Sample(
        "How many zones are impaired?",
        "SELECT COUNT(*) FROM availability_zones WHERE region_id = 'impaired'",
        ("availability_zones",),
        False,
    ),
    # Missing filter: drops the enterprise condition.
    Sample(
        "How many enterprise tenants are unverified?",
        "SELECT COUNT(*) FROM tenants WHERE NOT is_verified",
        ("tenants",),
        False,
    ),
    # Wrong aggregation: COUNT instead of SUM of cores.
    Sample(
        "How many CPU cores do the AMD hosts have altogether?",
        "SELECT COUNT(cpu_cores) FROM hosts WHERE cpu_model LIKE 'AMD%'",
        ("hosts",),
        False,
    ),
    # Wrong value: 'active' is a region status; instances use 'running'.
    Sample(
        "How many instances are running in us-west-2a?",
        "SELECT COUNT(*) FROM instances WHERE status = 'active' AND zone_id = 'us-west-2a'",
        ("instances",),
        False,
    ),
    # Wrong join key: joins the tenant id to the host id.
    Sample(
        "List the instances of tenant Acme Robotics.",
        "SELECT i.instance_id FROM instances i JOIN tenants t ON i.host_id = t.tenant_id "
        "WHERE t.tenant_name = 'Acme Robotics'",
        ("instances", "tenants"),
        False,
    ),
    # Wrong ordering direction: ascending returns the oldest alarms.
    Sample(
        "What are the five newest alarms?",
        "SELECT alarm_id, triggered_at FROM alarms ORDER BY triggered_at ASC LIMIT 5",
        ("alarms",),
        False,
    ),
    # Non-existent column: volumes have size_gb, not capacity.
    Sample(
        "What is the total capacity of all ssd volumes?",
        "SELECT SUM(capacity) FROM volumes WHERE volume_type = 'ssd'",
        ("volumes",),
        False,
    ),
    # Wrong date range: checks triggered_at in August instead of July.
    Sample(
        "How many critical alarms fired in July 2026?",
        "SELECT COUNT(*) FROM alarms WHERE severity = 'critical' AND triggered_at >= DATE '2026-08-01' "
        "AND triggered_at < DATE '2026-09-01'",
        ("alarms",),
        False,
    ),
    # Case-sensitive exact match where a fuzzy match was asked for: finds no names.
    Sample(
        "Which tenants have 'logistics' in their name?",
        "SELECT tenant_name FROM tenants WHERE tenant_name = 'logistics'",
        ("tenants",),
        False,
    ),
    # Wrong column: compute_cost instead of the invoice total.
    Sample(
        "What was the total billed amount for August 2026?",
        "SELECT SUM(compute_cost) FROM invoices WHERE billing_month = DATE '2026-08-01'",
        ("invoices",),
        False,
    ),
    # Missing GROUP BY column: groups by status, not by flavor.
    Sample(
        "How many running instances are there of each flavor?",
        "SELECT status, COUNT(*) FROM instances WHERE status = 'running' GROUP BY status",
        ("instances",),
        False,
    ),
    # Inverted quota ratio: finds tenants far below their limit.
    Sample(
        "Which tenants are above 90% of their instances quota?",
        "SELECT tenant_id FROM quotas WHERE resource_type = 'instances' AND quota_limit > 0.9 * used_amount",
        ("quotas",),
        False,
    ),
    # Syntax error: missing FROM keyword.
    Sample(
        "How many stopped instances are there?",
        "SELECT COUNT(*) instances WHERE status = 'stopped'",
        ("instances",),
        False,
    ),
    # Wrong value: a typo names region eu-west-2, which does not exist, so nothing is returned.
    Sample(
        "Which hosts are in region eu-west-1?",
        "SELECT h.hostname FROM hosts h JOIN availability_zones z ON h.zone_id = z.zone_id "
        "WHERE z.region_id = 'eu-west-2'",
        ("hosts", "availability_zones"),
        False,
    ),
    # Wrong aggregation: AVG instead of MAX.
    Sample(
        "What is the highest CPU utilization ever observed in an alarm?",
        "SELECT AVG(observed_value) FROM alarms WHERE metric_name = 'cpu_utilization'",
        ("alarms",),
        False,
    ),
    # Missing filter on unattached: lists every volume of the tenant.
    Sample(
        "Which of tenant 1005's volumes are not attached to anything?",
        "SELECT volume_id FROM volumes WHERE tenant_id = 1005",
        ("volumes",),
        False,
    ),
    # Wrong limit: asks for three, returns ten.
    Sample(
        "Show the three largest overdue invoices.",
        "SELECT invoice_id, total_amount FROM invoices WHERE payment_status = 'overdue' "
        "ORDER BY total_amount DESC LIMIT 10",
        ("invoices",),
        False,
    ),
)
