"""The unseen split of the test set: hand-written questions with their gold SQL, kept apart from everything else.

These questions are not rendered from the families of questions.py, and none of their question families,
phrasings or SQL shapes occur in the gold bank, the seed samples, the value swaps or any prompt. They are
written the way people ask: formal, colloquial or terse, some with the concept sheet's terms (utilization,
time to resolve, detached, overdue). The build adds them to test_set.json with "split": "unseen" and checks
that each gold SQL returns rows, that a top-k answer has no tie at its cut-off, and that no SQL shape (literals
masked) repeats one of the gold bank, the samples or the seen test questions.

Rules for adding one: the question must have one reading (name the columns to return when it could be read
two ways, and say "percentage" or "fraction"), no ORDER BY unless the question asks for an order, and no
phrasing borrowed from questions.py or samples.py.
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class Unseen:
    """One hand-written test question: its category, the question and its gold SQL."""

    category: str
    question: str
    sql: str


UNSEEN: tuple[Unseen, ...] = (
    # --- join: two or three tables ------------------------------------------------------------------------------
    Unseen(
        "join",
        "Which data center buildings have at least one server that is offline? Just the building codes.",
        "SELECT DISTINCT z.data_center FROM hosts h JOIN availability_zones z ON h.zone_id = z.zone_id "
        "WHERE h.status = 'offline'",
    ),
    Unseen(
        "join",
        "Names of customers with a running VM in an availability zone that is currently impaired?",
        "SELECT DISTINCT t.tenant_name FROM tenants t JOIN instances i ON i.tenant_id = t.tenant_id "
        "JOIN availability_zones z ON i.zone_id = z.zone_id WHERE z.status = 'impaired' AND i.status = 'running'",
    ),
    Unseen(
        "join",
        "For every VM that has an open critical alarm right now, give the VM's name and the company that owns it.",
        "SELECT DISTINCT i.instance_name, t.tenant_name FROM alarms a JOIN instances i ON a.instance_id = i.instance_id "
        "JOIN tenants t ON i.tenant_id = t.tenant_id WHERE a.status = 'open' AND a.severity = 'critical'",
    ),
    Unseen(
        "join",
        "encrypted disks attached to stopped instances: volume id + instance name",
        "SELECT v.volume_id, i.instance_name FROM volumes v JOIN instances i ON v.instance_id = i.instance_id "
        "WHERE v.is_encrypted AND i.status = 'stopped'",
    ),
    Unseen(
        "join",
        "Which Xen hypervisors do we have in Germany? Hostnames please.",
        "SELECT h.hostname FROM hosts h JOIN availability_zones z ON h.zone_id = z.zone_id "
        "JOIN regions r ON z.region_id = r.region_id WHERE r.country = 'Germany' AND h.hypervisor = 'Xen'",
    ),
    Unseen(
        "join",
        "I need the ops contact addresses of enterprise-plan accounts that currently dispute an invoice.",
        "SELECT DISTINCT t.contact_email FROM tenants t JOIN invoices v ON v.tenant_id = t.tenant_id "
        "WHERE t.support_plan = 'enterprise' AND v.payment_status = 'disputed'",
    ),
    Unseen(
        "join",
        "How many tenants have launched at least one instance outside their home region?",
        "SELECT COUNT(DISTINCT t.tenant_id) FROM tenants t JOIN instances i ON i.tenant_id = t.tenant_id "
        "JOIN availability_zones z ON i.zone_id = z.zone_id WHERE z.region_id <> t.home_region_id",
    ),
    Unseen(
        "join",
        "Across all invoices, whatever their payment status, how much network cost was billed to tenants whose home "
        "region is in the United States?",
        "SELECT SUM(v.network_cost) FROM invoices v JOIN tenants t ON v.tenant_id = t.tenant_id "
        "JOIN regions r ON t.home_region_id = r.region_id WHERE r.country = 'United States'",
    ),
    Unseen(
        "join",
        "In the Singapore region, which physical servers carry a VM that has SSH open to the internet?",
        "SELECT DISTINCT h.hostname FROM hosts h JOIN instances i ON i.host_id = h.host_id "
        "JOIN availability_zones z ON h.zone_id = z.zone_id "
        "WHERE z.region_id = 'ap-southeast-1' AND i.security_group = 'sg-ssh-open'",
    ),
    # --- group_by: GROUP BY, HAVING, grouped distinct counts ----------------------------------------------------
    Unseen(
        "group_by",
        "Which industries count more than ten customers? Only the industry names.",
        "SELECT industry FROM tenants GROUP BY industry HAVING COUNT(*) > 10",
    ),
    Unseen(
        "group_by",
        "Which tenants are sitting on three or more invoices that are either unpaid or overdue? "
        "Show the name and the number of such invoices.",
        "SELECT t.tenant_name, COUNT(*) AS open_invoices FROM invoices v JOIN tenants t ON v.tenant_id = t.tenant_id "
        "WHERE v.payment_status IN ('unpaid', 'overdue') GROUP BY t.tenant_name HAVING COUNT(*) >= 3",
    ),
    Unseen(
        "group_by",
        "Which processor models average over 1000 GB of RAM per host?",
        "SELECT cpu_model FROM hosts GROUP BY cpu_model HAVING AVG(memory_gb) > 1000",
    ),
    Unseen(
        "group_by",
        "Per hypervisor: the number of hosts and their physical cores added up.",
        "SELECT hypervisor, COUNT(*) AS n_hosts, SUM(cpu_cores) AS cores FROM hosts GROUP BY hypervisor",
    ),
    Unseen(
        "group_by",
        "flavors with 50+ running VMs, and how many each",
        "SELECT flavor, COUNT(*) AS running FROM instances WHERE status = 'running' GROUP BY flavor "
        "HAVING COUNT(*) >= 50",
    ),
    Unseen(
        "group_by",
        "What does an invoice come to on average for each billing cycle?",
        "SELECT t.billing_cycle, AVG(v.total_amount) AS avg_invoice FROM invoices v "
        "JOIN tenants t ON v.tenant_id = t.tenant_id GROUP BY t.billing_cycle",
    ),
    Unseen(
        "group_by",
        "Which metrics have produced more than 12 critical alarms, and how many?",
        "SELECT metric_name, COUNT(*) AS critical_alarms FROM alarms WHERE severity = 'critical' "
        "GROUP BY metric_name HAVING COUNT(*) > 12",
    ),
    Unseen(
        "group_by",
        "For every region, by its full name, how many tenants have it as their home region?",
        "SELECT r.region_name, COUNT(t.tenant_id) AS n_tenants FROM regions r "
        "LEFT JOIN tenants t ON t.home_region_id = r.region_id GROUP BY r.region_name",
    ),
    Unseen(
        "group_by",
        "How many different customers have running VMs in each region? Region id and the count.",
        "SELECT z.region_id, COUNT(DISTINCT i.tenant_id) AS n_tenants FROM instances i "
        "JOIN availability_zones z ON i.zone_id = z.zone_id WHERE i.status = 'running' GROUP BY z.region_id",
    ),
    # --- aggregate: one value, distinct counts ---------------------------------------------------------------
    Unseen(
        "aggregate",
        "How many distinct tenants have had at least one alarm raised on one of their instances?",
        "SELECT COUNT(DISTINCT i.tenant_id) FROM alarms a JOIN instances i ON a.instance_id = i.instance_id",
    ),
    Unseen(
        "aggregate",
        "How many unique customers got a critical alarm during August 2026?",
        "SELECT COUNT(DISTINCT i.tenant_id) FROM alarms a JOIN instances i ON a.instance_id = i.instance_id "
        "WHERE a.severity = 'critical' AND a.triggered_at >= TIMESTAMP '2026-08-01 00:00:00' "
        "AND a.triggered_at < TIMESTAMP '2026-09-01 00:00:00'",
    ),
    Unseen(
        "aggregate",
        "In how many different availability zones does Summit Media have instances?",
        "SELECT COUNT(DISTINCT i.zone_id) FROM instances i JOIN tenants t ON i.tenant_id = t.tenant_id "
        "WHERE t.tenant_name = 'Summit Media'",
    ),
    Unseen(
        "aggregate",
        "In how many countries do we operate regions?",
        "SELECT COUNT(DISTINCT country) FROM regions",
    ),
    Unseen(
        "aggregate",
        "What's the median hourly price of the VMs that are up and running?",
        "SELECT MEDIAN(hourly_price) FROM instances WHERE status = 'running'",
    ),
    Unseen(
        "aggregate",
        "How many distinct combinations of hypervisor and CPU model exist across the host fleet?",
        "SELECT COUNT(*) FROM (SELECT DISTINCT hypervisor, cpu_model FROM hosts) AS combos",
    ),
    Unseen(
        "aggregate",
        "Total contracted power of every availability zone in the EU regions, in kW.",
        "SELECT SUM(z.power_capacity_kw) FROM availability_zones z JOIN regions r ON z.region_id = r.region_id "
        "WHERE r.country IN ('Germany', 'Ireland')",
    ),
    # --- ratio: percentages and fractions ----------------------------------------------------------------------
    Unseen(
        "ratio",
        "What percentage of all instances are currently running?",
        "SELECT 100.0 * COUNT(*) FILTER (WHERE status = 'running') / COUNT(*) FROM instances",
    ),
    Unseen(
        "ratio",
        "For each volume type, what percentage of the volumes are encrypted at rest?",
        "SELECT volume_type, 100.0 * COUNT(*) FILTER (WHERE is_encrypted) / COUNT(*) AS pct_encrypted "
        "FROM volumes GROUP BY volume_type",
    ),
    Unseen(
        "ratio",
        "By industry, what percent of the total billed amount is network charges?",
        "SELECT t.industry, 100.0 * SUM(v.network_cost) / SUM(v.total_amount) AS network_pct FROM invoices v "
        "JOIN tenants t ON v.tenant_id = t.tenant_id GROUP BY t.industry",
    ),
    Unseen(
        "ratio",
        "For each resource type, what is the mean of the quota utilization ratio (used amount over limit) "
        "across tenants?",
        "SELECT resource_type, AVG(used_amount / quota_limit) AS mean_utilization FROM quotas GROUP BY resource_type",
    ),
    Unseen(
        "ratio",
        "Among resolved alarms, what percentage were cleared within 40 minutes of firing?",
        "SELECT 100.0 * COUNT(*) FILTER (WHERE resolved_at - triggered_at <= INTERVAL 40 MINUTE) / COUNT(*) "
        "FROM alarms WHERE status = 'resolved'",
    ),
    Unseen(
        "ratio",
        "What percentage of provisioned storage, in GB, is on volumes that are in use?",
        "SELECT 100.0 * SUM(size_gb) FILTER (WHERE status = 'in-use') / SUM(size_gb) FROM volumes",
    ),
    Unseen(
        "ratio",
        "Per flavor, what do running instances pay per vCPU per hour on average?",
        "SELECT flavor, AVG(hourly_price / vcpus) AS price_per_vcpu FROM instances WHERE status = 'running' "
        "GROUP BY flavor",
    ),
    Unseen(
        "ratio",
        "What share of customer accounts are verified, as a fraction between 0 and 1?",
        "SELECT AVG(CASE WHEN is_verified THEN 1.0 ELSE 0.0 END) FROM tenants",
    ),
    # --- order_limit: top-k with no tie at the cut-off ---------------------------------------------------------
    Unseen(
        "order_limit",
        "Top 3 availability zones by number of instances, any status, with the counts.",
        "SELECT zone_id, COUNT(*) AS n_instances FROM instances GROUP BY zone_id ORDER BY n_instances DESC LIMIT 3",
    ),
    Unseen(
        "order_limit",
        "Which five customers have the most vCPUs in running instances? Give name and vCPU total.",
        "SELECT t.tenant_name, SUM(i.vcpus) AS total_vcpus FROM instances i JOIN tenants t ON i.tenant_id = t.tenant_id "
        "WHERE i.status = 'running' GROUP BY t.tenant_name ORDER BY total_vcpus DESC LIMIT 5",
    ),
    Unseen(
        "order_limit",
        "The three regions with the most contracted power across their zones: region id and kW.",
        "SELECT region_id, SUM(power_capacity_kw) AS power_kw FROM availability_zones GROUP BY region_id "
        "ORDER BY power_kw DESC LIMIT 3",
    ),
    Unseen(
        "order_limit",
        "Who got the single biggest invoice ever issued, and for how much?",
        "SELECT t.tenant_name, v.total_amount FROM invoices v JOIN tenants t ON v.tenant_id = t.tenant_id "
        "ORDER BY v.total_amount DESC LIMIT 1",
    ),
    Unseen(
        "order_limit",
        "Which five online hosts have been in service the longest? Hostname and the date they went into service.",
        "SELECT hostname, commissioned_date FROM hosts WHERE status = 'online' ORDER BY commissioned_date LIMIT 5",
    ),
    Unseen(
        "order_limit",
        "What are the four most popular OS images among running VMs, with how many run each?",
        "SELECT os_image, COUNT(*) AS running FROM instances WHERE status = 'running' GROUP BY os_image "
        "ORDER BY running DESC LIMIT 4",
    ),
    Unseen(
        "order_limit",
        "Which instance has raised more alarms than any other? Its id and the alarm count.",
        "SELECT instance_id, COUNT(*) AS n_alarms FROM alarms GROUP BY instance_id ORDER BY n_alarms DESC LIMIT 1",
    ),
    Unseen(
        "order_limit",
        "Which 5 tenants hold the most block storage? Name and total GB.",
        "SELECT t.tenant_name, SUM(v.size_gb) AS total_gb FROM volumes v JOIN tenants t ON v.tenant_id = t.tenant_id "
        "GROUP BY t.tenant_name ORDER BY total_gb DESC LIMIT 5",
    ),
    # --- date: ranges and date arithmetic ----------------------------------------------------------------------
    Unseen(
        "date",
        "How many invoices were settled exactly on their due date?",
        "SELECT COUNT(*) FROM invoices WHERE paid_date = due_date",
    ),
    Unseen(
        "date",
        "On average, how many days before the due date do paid invoices get paid?",
        "SELECT AVG(due_date - paid_date) FROM invoices WHERE paid_date IS NOT NULL",
    ),
    Unseen(
        "date",
        "How many alarms fired in each month of Q3 2026? Give the month number and the count.",
        "SELECT month(triggered_at) AS month_no, COUNT(*) AS n_alarms FROM alarms "
        "WHERE triggered_at >= TIMESTAMP '2026-07-01 00:00:00' AND triggered_at < TIMESTAMP '2026-10-01 00:00:00' "
        "GROUP BY month(triggered_at)",
    ),
    Unseen(
        "date",
        "how many VMs were spun up between Oct 25 and Oct 31, 2026 (both days included)?",
        "SELECT COUNT(*) FROM instances WHERE launched_at >= TIMESTAMP '2026-10-25 00:00:00' "
        "AND launched_at < TIMESTAMP '2026-11-01 00:00:00'",
    ),
    Unseen(
        "date",
        "For each zone of eu-central-1, how many days after the region's launch did the zone open?",
        "SELECT z.zone_id, z.opened_date - r.launch_date AS days_after_launch FROM availability_zones z "
        "JOIN regions r ON z.region_id = r.region_id WHERE z.region_id = 'eu-central-1'",
    ),
    Unseen(
        "date",
        "Online servers that were commissioned before 2023: hostname and commissioning date.",
        "SELECT hostname, commissioned_date FROM hosts WHERE status = 'online' "
        "AND commissioned_date < DATE '2023-01-01'",
    ),
    Unseen(
        "date",
        "Which day of the week, by name, sees the most alarms fire?",
        "SELECT dayname(triggered_at) AS weekday FROM alarms GROUP BY dayname(triggered_at) "
        "ORDER BY COUNT(*) DESC LIMIT 1",
    ),
    Unseen(
        "date",
        "How many minutes did the slowest major alarm take to get resolved?",
        "SELECT MAX(date_diff('minute', triggered_at, resolved_at)) FROM alarms WHERE severity = 'major'",
    ),
    Unseen(
        "date",
        "How many tenants signed up in each quarter of 2025? Quarter number and count.",
        "SELECT quarter(signup_date) AS quarter_no, COUNT(*) AS signups FROM tenants "
        "WHERE signup_date >= DATE '2025-01-01' AND signup_date < DATE '2026-01-01' GROUP BY quarter(signup_date)",
    ),
    Unseen(
        "date",
        "Mean time to resolve per metric, in minutes, over the alarms that have been resolved.",
        "SELECT metric_name, AVG(date_diff('minute', triggered_at, resolved_at)) AS mttr_minutes FROM alarms "
        "WHERE resolved_at IS NOT NULL GROUP BY metric_name",
    ),
    # --- nested: subqueries, comparisons with averages -----------------------------------------------------------
    Unseen(
        "nested",
        "Which tenants have never launched a single instance?",
        "SELECT tenant_name FROM tenants WHERE tenant_id NOT IN (SELECT tenant_id FROM instances)",
    ),
    Unseen(
        "nested",
        "Which hosts have never had any instance placed on them? Hostnames.",
        "SELECT hostname FROM hosts h WHERE NOT EXISTS (SELECT 1 FROM instances i WHERE i.host_id = h.host_id)",
    ),
    Unseen(
        "nested",
        "Which running instances are priced above the average hourly price of all instances, any status, of the "
        "same flavor? Instance ids.",
        "SELECT i.instance_id FROM instances i WHERE i.status = 'running' AND i.hourly_price > "
        "(SELECT AVG(j.hourly_price) FROM instances j WHERE j.flavor = i.flavor)",
    ),
    Unseen(
        "nested",
        "Which customers have been billed more in total than the average customer? Names only.",
        "SELECT t.tenant_name FROM invoices v JOIN tenants t ON v.tenant_id = t.tenant_id GROUP BY t.tenant_name "
        "HAVING SUM(v.total_amount) > (SELECT AVG(billed) FROM "
        "(SELECT SUM(total_amount) AS billed FROM invoices GROUP BY tenant_id) AS per_tenant)",
    ),
    Unseen(
        "nested",
        "Which availability zones have more hosts than the average zone does?",
        "SELECT zone_id FROM hosts GROUP BY zone_id HAVING COUNT(*) > "
        "(SELECT AVG(n) FROM (SELECT COUNT(*) AS n FROM hosts GROUP BY zone_id) AS per_zone)",
    ),
    Unseen(
        "nested",
        "For the CPU, memory and disk usage metrics, which alarm had the highest observed value of its metric? "
        "Metric, alarm id and value.",
        "SELECT metric_name, alarm_id, observed_value FROM alarms a "
        "WHERE metric_name IN ('cpu_utilization', 'memory_usage', 'disk_usage') AND observed_value = "
        "(SELECT MAX(b.observed_value) FROM alarms b WHERE b.metric_name = a.metric_name)",
    ),
    Unseen(
        "nested",
        "List the running VMs, id and name, that belong to an account with at least one overdue invoice.",
        "SELECT instance_id, instance_name FROM instances WHERE status = 'running' "
        "AND tenant_id IN (SELECT tenant_id FROM invoices WHERE payment_status = 'overdue')",
    ),
    Unseen(
        "nested",
        "Which regions are home to no media company at all? Region ids.",
        "SELECT region_id FROM regions WHERE region_id NOT IN "
        "(SELECT home_region_id FROM tenants WHERE industry = 'media')",
    ),
    Unseen(
        "nested",
        "Which hosts have more physical cores than the fleet-wide average? Hostname and core count.",
        "SELECT hostname, cpu_cores FROM hosts WHERE cpu_cores > (SELECT AVG(cpu_cores) FROM hosts)",
    ),
    Unseen(
        "nested",
        "How many invoices came in above the average total of their own billing month?",
        "SELECT COUNT(*) FROM invoices v WHERE v.total_amount > "
        "(SELECT AVG(w.total_amount) FROM invoices w WHERE w.billing_month = v.billing_month)",
    ),
    # --- case: conditional labels and conditional counts ---------------------------------------------------------
    Unseen(
        "case",
        "Sort hosts into memory tiers: 'small' below 768 GB, 'medium' from 768 to 1024 GB, 'large' above "
        "1024 GB. How many hosts fall in each tier?",
        "SELECT CASE WHEN memory_gb < 768 THEN 'small' WHEN memory_gb <= 1024 THEN 'medium' ELSE 'large' END AS tier, "
        "COUNT(*) AS n_hosts FROM hosts GROUP BY tier",
    ),
    Unseen(
        "case",
        "For each tenant, one row with the name, the number of paid invoices and the number of invoices not paid.",
        "SELECT t.tenant_name, SUM(CASE WHEN v.payment_status = 'paid' THEN 1 ELSE 0 END) AS paid, "
        "SUM(CASE WHEN v.payment_status <> 'paid' THEN 1 ELSE 0 END) AS not_paid FROM invoices v "
        "JOIN tenants t ON v.tenant_id = t.tenant_id GROUP BY t.tenant_name",
    ),
    Unseen(
        "case",
        "Per severity, one row with two counts: resolved alarms closed within 35 minutes, and resolved alarms "
        "that took longer.",
        "SELECT severity, "
        "SUM(CASE WHEN resolved_at - triggered_at <= INTERVAL 35 MINUTE THEN 1 ELSE 0 END) AS fast, "
        "SUM(CASE WHEN resolved_at - triggered_at > INTERVAL 35 MINUTE THEN 1 ELSE 0 END) AS slow "
        "FROM alarms WHERE status = 'resolved' GROUP BY severity",
    ),
    Unseen(
        "case",
        "Bucket the volumes by size as 'small' (under 100 GB), 'medium' (100 to 999 GB) or 'large' (1000 GB and "
        "up), and count each bucket.",
        "SELECT CASE WHEN size_gb < 100 THEN 'small' WHEN size_gb < 1000 THEN 'medium' ELSE 'large' END AS bucket, "
        "COUNT(*) AS n_volumes FROM volumes GROUP BY bucket",
    ),
    Unseen(
        "case",
        "Going by the environment in the instance name (prod, staging or dev), how many running VMs are there "
        "per environment?",
        "SELECT CASE WHEN instance_name LIKE '%-prod-%' THEN 'prod' WHEN instance_name LIKE '%-staging-%' "
        "THEN 'staging' ELSE 'dev' END AS environment, COUNT(*) AS running FROM instances WHERE status = 'running' "
        "GROUP BY environment",
    ),
    Unseen(
        "case",
        "For the January 2026 bills, count how many were paid 'early' (before the due date), 'on due date', "
        "or are 'not paid' yet.",
        "SELECT CASE WHEN paid_date IS NULL THEN 'not paid' WHEN paid_date < due_date THEN 'early' "
        "ELSE 'on due date' END AS timing, COUNT(*) AS n_invoices FROM invoices "
        "WHERE billing_month = DATE '2026-01-01' GROUP BY timing",
    ),
    # --- null: missing values, outer joins, COALESCE ------------------------------------------------------------
    Unseen(
        "null",
        "Every tenant with its total overdue amount, showing 0 for tenants that owe nothing overdue.",
        "SELECT t.tenant_name, COALESCE(o.overdue, 0) AS overdue FROM tenants t LEFT JOIN "
        "(SELECT tenant_id, SUM(total_amount) AS overdue FROM invoices WHERE payment_status = 'overdue' "
        "GROUP BY tenant_id) AS o ON o.tenant_id = t.tenant_id",
    ),
    Unseen(
        "null",
        "For every availability zone, how many volumes are in an error state? Zones without any should show 0.",
        "SELECT z.zone_id, COALESCE(e.error_volumes, 0) AS error_volumes FROM availability_zones z LEFT JOIN "
        "(SELECT zone_id, COUNT(*) AS error_volumes FROM volumes WHERE status = 'error' GROUP BY zone_id) AS e "
        "ON e.zone_id = z.zone_id",
    ),
    Unseen(
        "null",
        "What percentage of invoices have no payment date recorded?",
        "SELECT 100.0 * COUNT(*) FILTER (WHERE paid_date IS NULL) / COUNT(*) FROM invoices",
    ),
    Unseen(
        "null",
        "Which customers have invoices still lacking a payment date, and how many each? Name and count.",
        "SELECT t.tenant_name, COUNT(*) AS without_payment FROM invoices v JOIN tenants t ON v.tenant_id = t.tenant_id "
        "WHERE v.paid_date IS NULL GROUP BY t.tenant_name",
    ),
    Unseen(
        "null",
        "Which instances have no volume attached to them at all? Instance ids only.",
        "SELECT i.instance_id FROM instances i LEFT JOIN volumes v ON v.instance_id = i.instance_id "
        "WHERE v.volume_id IS NULL",
    ),
    Unseen(
        "null",
        "How many alarms have no resolution time yet, per severity?",
        "SELECT severity, COUNT(*) AS unresolved FROM alarms WHERE resolved_at IS NULL GROUP BY severity",
    ),
    # --- filter and fuzzy: conditions and patterns no family uses -----------------------------------------------
    Unseen(
        "filter",
        "Are there any Windows boxes behind the open-SSH security group? Id and name.",
        "SELECT instance_id, instance_name FROM instances WHERE os_image LIKE 'Windows%' "
        "AND security_group = 'sg-ssh-open'",
    ),
    Unseen(
        "filter",
        "Zones opened in 2022 or later with less than 3000 kW of contracted power.",
        "SELECT zone_id FROM availability_zones WHERE opened_date >= DATE '2022-01-01' AND power_capacity_kw < 3000",
    ),
    Unseen(
        "filter",
        "Volumes of 1000 GB or more that are not encrypted, with their size and owner id.",
        "SELECT volume_id, size_gb, tenant_id FROM volumes WHERE size_gb >= 1000 AND NOT is_encrypted",
    ),
    Unseen(
        "fuzzy",
        "Which production Kafka machines have ever raised an alarm? Instance names.",
        "SELECT DISTINCT i.instance_name FROM instances i JOIN alarms a ON a.instance_id = i.instance_id "
        "WHERE i.instance_name LIKE 'kafka-prod-%'",
    ),
    Unseen(
        "fuzzy",
        "Customers reachable at a .io address that have at least one VM in error: their names.",
        "SELECT DISTINCT t.tenant_name FROM tenants t JOIN instances i ON i.tenant_id = t.tenant_id "
        "WHERE t.contact_email LIKE '%.io' AND i.status = 'error'",
    ),
    Unseen(
        "fuzzy",
        "Count of VMs per Ubuntu version, whatever their state.",
        "SELECT os_image, COUNT(*) AS n_instances FROM instances WHERE os_image LIKE 'Ubuntu%' GROUP BY os_image",
    ),
)
