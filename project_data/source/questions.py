"""Question families of the gold bank and test set: question phrasings and a SQL template over slots from the data.

Each family's `slots` query returns the slot values that exist in database.duckdb, so every rendered SQL
returns rows. The build shuffles a family's slot rows, gives the first few to the test set's seen split and
the rest to the gold bank: both share families and phrasings but never slot values. The unseen split is
hand-written apart from these families, in unseen.py.
"""

from dataclasses import dataclass

CATEGORIES = ("filter", "aggregate", "group_by", "join", "order_limit", "date", "fuzzy")


@dataclass(frozen=True)
class Family:
    """One question family: category, slot query, question phrasings and the SQL template."""

    name: str
    category: str
    slots: str
    questions: tuple[str, ...]
    sql: str


_TOP_N = "(VALUES (3), (5), (10)) AS top(n)"
_MONTHS = (
    "SELECT DISTINCT strftime({col}, '%B') AS month_name, CAST(date_trunc('month', {col}) AS DATE) AS month_start, "
    "CAST(date_trunc('month', {col}) + INTERVAL 1 MONTH AS DATE) AS month_end FROM {table}"
)

FAMILIES: tuple[Family, ...] = (
    # --- filter: one table, equality and boolean conditions -------------------------------------------------
    Family(
        "instances_by_status_zone",
        "filter",
        "SELECT DISTINCT status, zone_id FROM instances",
        (
            "List the {status} instances in {zone_id}.",
            "Which VMs in zone {zone_id} are in {status} state right now?",
            "Show me every instance in availability zone {zone_id} whose status is {status}.",
        ),
        "SELECT instance_id, instance_name FROM instances WHERE status = '{status}' AND zone_id = '{zone_id}'",
    ),
    Family(
        "hosts_by_hypervisor_status",
        "filter",
        "SELECT DISTINCT hypervisor, status FROM hosts",
        (
            "Which {hypervisor} hosts have status {status}?",
            "List the hostnames of {hypervisor} hosts currently marked {status}.",
            "Show {hypervisor} servers whose status is {status}.",
        ),
        "SELECT hostname FROM hosts WHERE hypervisor = '{hypervisor}' AND status = '{status}'",
    ),
    Family(
        "unencrypted_volumes",
        "filter",
        "SELECT DISTINCT volume_type, status FROM volumes WHERE NOT is_encrypted",
        (
            "Which {volume_type} volumes in {status} state are not encrypted?",
            "List unencrypted {volume_type} volumes whose status is {status}.",
        ),
        "SELECT volume_id, size_gb FROM volumes WHERE volume_type = '{volume_type}' AND status = '{status}' "
        "AND NOT is_encrypted",
    ),
    Family(
        "tenants_by_industry_plan",
        "filter",
        "SELECT DISTINCT industry, support_plan FROM tenants",
        (
            "Which {industry} tenants are on the {support_plan} support plan?",
            "List {support_plan}-plan customers in the {industry} industry.",
        ),
        "SELECT tenant_name FROM tenants WHERE industry = '{industry}' AND support_plan = '{support_plan}'",
    ),
    Family(
        "unresolved_alarms",
        "filter",
        "SELECT DISTINCT severity, metric_name FROM alarms WHERE status <> 'resolved'",
        (
            "Show unresolved {severity} alarms on {metric_name}.",
            "Which {metric_name} alarms with severity {severity} are still not resolved?",
        ),
        "SELECT alarm_id, instance_id, status FROM alarms WHERE severity = '{severity}' "
        "AND metric_name = '{metric_name}' AND status <> 'resolved'",
    ),
    Family(
        "running_by_flavor_group",
        "filter",
        "SELECT DISTINCT flavor, security_group FROM instances WHERE status = 'running'",
        (
            "Which running {flavor} instances use the {security_group} security group?",
            "List running instances of flavor {flavor} that are attached to security group {security_group}.",
        ),
        "SELECT instance_id, instance_name FROM instances WHERE status = 'running' AND flavor = '{flavor}' "
        "AND security_group = '{security_group}'",
    ),
    # --- aggregate: one scalar -------------------------------------------------------------------------------
    Family(
        "count_instances_status_zone",
        "aggregate",
        "SELECT DISTINCT status, zone_id FROM instances",
        (
            "How many {status} instances are there in {zone_id}?",
            "Count the VMs in zone {zone_id} with status {status}.",
        ),
        "SELECT COUNT(*) AS instance_count FROM instances WHERE status = '{status}' AND zone_id = '{zone_id}'",
    ),
    Family(
        "volume_size_total",
        "aggregate",
        "SELECT DISTINCT volume_type, status FROM volumes",
        (
            "What is the total size in GB of {status} {volume_type} volumes?",
            "How many GB of {volume_type} storage sit on volumes that are {status}?",
        ),
        "SELECT SUM(size_gb) AS total_gb FROM volumes WHERE volume_type = '{volume_type}' AND status = '{status}'",
    ),
    Family(
        "average_price_flavor_os",
        "aggregate",
        "SELECT DISTINCT flavor, os_image FROM instances",
        (
            "What is the average hourly price of {flavor} instances running {os_image}?",
            "On average, how much per hour does a {flavor} VM with {os_image} cost?",
        ),
        "SELECT AVG(hourly_price) AS avg_hourly_price FROM instances WHERE flavor = '{flavor}' "
        "AND os_image = '{os_image}'",
    ),
    Family(
        "tenant_invoice_total",
        "aggregate",
        "SELECT DISTINCT tenant_id, payment_status FROM invoices",
        (
            "What is the total amount of {payment_status} invoices for tenant {tenant_id}?",
            "How much has tenant {tenant_id} been billed on invoices that are {payment_status}?",
        ),
        "SELECT SUM(total_amount) AS total_billed FROM invoices WHERE tenant_id = {tenant_id} "
        "AND payment_status = '{payment_status}'",
    ),
    Family(
        "peak_observed_value",
        "aggregate",
        "SELECT DISTINCT metric_name, severity FROM alarms",
        (
            "What is the highest observed value among {severity} {metric_name} alarms?",
            "What was the peak {metric_name} reading on alarms of severity {severity}?",
        ),
        "SELECT MAX(observed_value) AS peak_value FROM alarms WHERE metric_name = '{metric_name}' "
        "AND severity = '{severity}'",
    ),
    Family(
        "host_memory_total",
        "aggregate",
        "SELECT DISTINCT zone_id, status FROM hosts",
        (
            "What is the total memory in GB of hosts with status {status} in {zone_id}?",
            "How many GB of RAM do the servers in zone {zone_id} with status {status} have altogether?",
        ),
        "SELECT SUM(memory_gb) AS total_memory_gb FROM hosts WHERE zone_id = '{zone_id}' AND status = '{status}'",
    ),
    # --- group_by: one row per group ---------------------------------------------------------------------------
    Family(
        "flavors_in_zone",
        "group_by",
        "SELECT DISTINCT zone_id FROM instances",
        (
            "How many instances of each flavor are there in {zone_id}?",
            "Break down the instances in zone {zone_id} by flavor.",
        ),
        "SELECT flavor, COUNT(*) AS instance_count FROM instances WHERE zone_id = '{zone_id}' GROUP BY flavor",
    ),
    Family(
        "alarm_severity_breakdown",
        "group_by",
        "SELECT DISTINCT metric_name FROM alarms",
        ("Break down {metric_name} alarms by severity.", "How many {metric_name} alarms are there per severity level?"),
        "SELECT severity, COUNT(*) AS alarm_count FROM alarms WHERE metric_name = '{metric_name}' GROUP BY severity",
    ),
    Family(
        "tenant_storage_by_type",
        "group_by",
        "SELECT DISTINCT tenant_id FROM volumes",
        (
            "For tenant {tenant_id}, what is the total volume size per volume type?",
            "Show tenant {tenant_id}'s provisioned storage in GB grouped by volume type.",
        ),
        "SELECT volume_type, SUM(size_gb) AS total_gb FROM volumes WHERE tenant_id = {tenant_id} GROUP BY volume_type",
    ),
    Family(
        "host_status_in_zone",
        "group_by",
        "SELECT DISTINCT zone_id FROM hosts",
        ("Count the hosts in {zone_id} by status.", "How many hosts in zone {zone_id} are in each status?"),
        "SELECT status, COUNT(*) AS host_count FROM hosts WHERE zone_id = '{zone_id}' GROUP BY status",
    ),
    Family(
        "os_images_by_status",
        "group_by",
        "SELECT DISTINCT status FROM instances",
        (
            "How many {status} instances run each OS image?",
            "Give me the number of {status} VMs per operating system image.",
        ),
        "SELECT os_image, COUNT(*) AS instance_count FROM instances WHERE status = '{status}' GROUP BY os_image",
    ),
    Family(
        "support_plans_in_industry",
        "group_by",
        "SELECT DISTINCT industry FROM tenants",
        ("How many {industry} tenants are on each support plan?", "Break down {industry} customers by support plan."),
        "SELECT support_plan, COUNT(*) AS tenant_count FROM tenants WHERE industry = '{industry}' GROUP BY support_plan",
    ),
    # --- join: two or three tables ---------------------------------------------------------------------------
    Family(
        "running_instances_of_tenant",
        "join",
        "SELECT DISTINCT t.tenant_name FROM tenants t JOIN instances i ON i.tenant_id = t.tenant_id "
        "WHERE i.status = 'running'",
        ("List the running instances owned by {tenant_name}.", "Which VMs does {tenant_name} have running?"),
        "SELECT i.instance_id, i.instance_name FROM instances i JOIN tenants t ON i.tenant_id = t.tenant_id "
        "WHERE t.tenant_name = '{tenant_name}' AND i.status = 'running'",
    ),
    Family(
        "instances_on_host",
        "join",
        "SELECT DISTINCT h.hostname FROM hosts h JOIN instances i ON i.host_id = h.host_id",
        ("Which instances are placed on host {hostname}?", "List the VMs hosted on {hostname} and their status."),
        "SELECT i.instance_id, i.instance_name, i.status FROM instances i JOIN hosts h ON i.host_id = h.host_id "
        "WHERE h.hostname = '{hostname}'",
    ),
    Family(
        "open_alarms_of_tenant",
        "join",
        "SELECT DISTINCT t.tenant_name FROM alarms a JOIN instances i ON a.instance_id = i.instance_id "
        "JOIN tenants t ON i.tenant_id = t.tenant_id WHERE a.status = 'open'",
        (
            "How many open alarms do {tenant_name}'s instances have?",
            "Count the open alarms on instances that belong to {tenant_name}.",
        ),
        "SELECT COUNT(*) AS open_alarms FROM alarms a JOIN instances i ON a.instance_id = i.instance_id "
        "JOIN tenants t ON i.tenant_id = t.tenant_id WHERE t.tenant_name = '{tenant_name}' AND a.status = 'open'",
    ),
    Family(
        "hosts_in_region",
        "join",
        "SELECT DISTINCT z.region_id, h.status FROM hosts h JOIN availability_zones z ON h.zone_id = z.zone_id",
        (
            "Which hosts in region {region_id} have status {status}?",
            "List hosts with status {status} across all zones of {region_id}.",
        ),
        "SELECT h.hostname, h.zone_id FROM hosts h JOIN availability_zones z ON h.zone_id = z.zone_id "
        "WHERE z.region_id = '{region_id}' AND h.status = '{status}'",
    ),
    Family(
        "industry_invoice_total",
        "join",
        "SELECT DISTINCT t.industry, v.payment_status FROM invoices v JOIN tenants t ON v.tenant_id = t.tenant_id",
        (
            "What is the total {payment_status} invoice amount for {industry} tenants?",
            "How much do {industry} customers have in {payment_status} invoices?",
        ),
        "SELECT SUM(v.total_amount) AS total_amount FROM invoices v JOIN tenants t ON v.tenant_id = t.tenant_id "
        "WHERE t.industry = '{industry}' AND v.payment_status = '{payment_status}'",
    ),
    Family(
        "tenants_with_alarm_kind",
        "join",
        "SELECT DISTINCT severity, metric_name FROM alarms",
        (
            "Which tenants have had {severity} {metric_name} alarms?",
            "List the customers whose instances raised a {severity} alarm on {metric_name}.",
        ),
        "SELECT DISTINCT t.tenant_name FROM tenants t JOIN instances i ON i.tenant_id = t.tenant_id "
        "JOIN alarms a ON a.instance_id = i.instance_id WHERE a.severity = '{severity}' "
        "AND a.metric_name = '{metric_name}'",
    ),
    Family(
        "quota_pressure",
        "join",
        "SELECT DISTINCT t.industry, q.resource_type FROM quotas q JOIN tenants t ON q.tenant_id = t.tenant_id "
        "WHERE q.used_amount > 0.8 * q.quota_limit",
        (
            "Which {industry} tenants use more than 80% of their {resource_type} quota?",
            "List {industry} customers above 80 percent of the {resource_type} quota, with usage and limit.",
        ),
        "SELECT t.tenant_name, q.used_amount, q.quota_limit FROM quotas q JOIN tenants t ON q.tenant_id = t.tenant_id "
        "WHERE t.industry = '{industry}' AND q.resource_type = '{resource_type}' "
        "AND q.used_amount > 0.8 * q.quota_limit",
    ),
    # --- order_limit: top-n over columns without ties ----------------------------------------------------------
    Family(
        "top_tenants_by_invoice_status",
        "order_limit",
        f"SELECT DISTINCT payment_status, n FROM invoices, {_TOP_N}",
        (
            "Which {n} tenants have the largest total of {payment_status} invoices?",
            "Show the top {n} customers by {payment_status} invoice amount.",
        ),
        "SELECT t.tenant_name, SUM(v.total_amount) AS total FROM invoices v JOIN tenants t "
        "ON v.tenant_id = t.tenant_id WHERE v.payment_status = '{payment_status}' GROUP BY t.tenant_name "
        "ORDER BY total DESC LIMIT {n}",
    ),
    Family(
        "latest_alarms_by_severity",
        "order_limit",
        f"SELECT DISTINCT severity, n FROM alarms, {_TOP_N}",
        ("Show the {n} most recent {severity} alarms.", "What are the latest {n} alarms with severity {severity}?"),
        "SELECT alarm_id, instance_id, metric_name, triggered_at FROM alarms WHERE severity = '{severity}' "
        "ORDER BY triggered_at DESC LIMIT {n}",
    ),
    Family(
        "newest_instances_in_zone",
        "order_limit",
        "SELECT DISTINCT zone_id, n FROM instances, (VALUES (3), (5)) AS top(n)",
        ("Which {n} instances were launched most recently in {zone_id}?", "List the {n} newest VMs in zone {zone_id}."),
        "SELECT instance_id, instance_name, launched_at FROM instances WHERE zone_id = '{zone_id}' "
        "ORDER BY launched_at DESC LIMIT {n}",
    ),
    Family(
        "largest_invoices_of_month",
        "order_limit",
        f"SELECT DISTINCT strftime(billing_month, '%B') AS month_name, billing_month, n FROM invoices, {_TOP_N}",
        (
            "What were the {n} largest invoices for {month_name} 2026?",
            "Show the top {n} invoices by total amount in the {month_name} 2026 billing month.",
        ),
        "SELECT invoice_id, tenant_id, total_amount FROM invoices WHERE billing_month = DATE '{billing_month}' "
        "ORDER BY total_amount DESC LIMIT {n}",
    ),
    Family(
        "worst_metric_breaches",
        "order_limit",
        f"SELECT DISTINCT metric_name, n FROM alarms, {_TOP_N} WHERE metric_name <> 'status_check_failed'",
        (
            "Which {n} {metric_name} alarms had the highest observed values?",
            "Show the top {n} {metric_name} alarms by observed value.",
        ),
        "SELECT alarm_id, instance_id, observed_value FROM alarms WHERE metric_name = '{metric_name}' "
        "ORDER BY observed_value DESC LIMIT {n}",
    ),
    # --- date: calendar filters and date arithmetic ------------------------------------------------------------
    Family(
        "launches_in_month",
        "date",
        _MONTHS.format(col="launched_at", table="instances"),
        ("How many instances were launched in {month_name} 2026?", "Count the VMs created during {month_name} 2026."),
        "SELECT COUNT(*) AS launched FROM instances WHERE launched_at >= DATE '{month_start}' "
        "AND launched_at < DATE '{month_end}'",
    ),
    Family(
        "alarms_on_day",
        "date",
        "SELECT DISTINCT severity, strftime(triggered_at, '%B %-d') AS day_label, CAST(triggered_at AS DATE) AS day "
        "FROM alarms",
        (
            "List the {severity} alarms raised on {day_label}, 2026.",
            "Which {severity} alarms fired on {day_label} 2026?",
        ),
        "SELECT alarm_id, instance_id, metric_name FROM alarms WHERE severity = '{severity}' "
        "AND CAST(triggered_at AS DATE) = DATE '{day}'",
    ),
    Family(
        "invoices_of_month_by_status",
        "date",
        "SELECT DISTINCT strftime(billing_month, '%B') AS month_name, billing_month, payment_status FROM invoices",
        (
            "Which invoices for {month_name} 2026 are {payment_status}?",
            "Show the {payment_status} invoices of the {month_name} 2026 billing month.",
        ),
        "SELECT invoice_id, tenant_id, total_amount FROM invoices WHERE billing_month = DATE '{billing_month}' "
        "AND payment_status = '{payment_status}'",
    ),
    Family(
        "slow_resolutions",
        "date",
        "SELECT DISTINCT severity, h FROM alarms, (VALUES (6), (12), (24)) AS hours(h) "
        "WHERE resolved_at - triggered_at > h * INTERVAL 1 HOUR",
        (
            "Which {severity} alarms took more than {h} hours to resolve?",
            "List {severity} alarms whose resolution took longer than {h} hours.",
        ),
        "SELECT alarm_id, triggered_at, resolved_at FROM alarms WHERE severity = '{severity}' "
        "AND resolved_at - triggered_at > INTERVAL {h} HOUR",
    ),
    Family(
        "signups_in_year",
        "date",
        "SELECT DISTINCT support_plan, year(signup_date) AS year FROM tenants",
        (
            "Which {support_plan} tenants signed up in {year}?",
            "List customers on the {support_plan} plan who joined during {year}.",
        ),
        "SELECT tenant_name, signup_date FROM tenants WHERE support_plan = '{support_plan}' "
        "AND signup_date >= DATE '{year}-01-01' AND signup_date <= DATE '{year}-12-31'",
    ),
    Family(
        "billed_in_month",
        "date",
        "SELECT DISTINCT strftime(billing_month, '%B') AS month_name, billing_month FROM invoices",
        (
            "How much was billed in total for {month_name} 2026?",
            "What is the total invoiced amount of the {month_name} 2026 billing month?",
        ),
        "SELECT SUM(total_amount) AS total_billed FROM invoices WHERE billing_month = DATE '{billing_month}'",
    ),
    # --- fuzzy: LIKE / ILIKE on names and free text -------------------------------------------------------------
    Family(
        "instance_name_contains",
        "fuzzy",
        "SELECT DISTINCT split_part(instance_name, '-', 1) AS workload, status FROM instances "
        "WHERE status IN ('running', 'stopped')",
        (
            "Find {status} instances whose name contains '{workload}'.",
            "Which {status} VMs have {workload} in their name?",
        ),
        "SELECT instance_id, instance_name FROM instances WHERE instance_name ILIKE '%{workload}%' "
        "AND status = '{status}'",
    ),
    Family(
        "tenant_name_word",
        "fuzzy",
        "SELECT DISTINCT unnest(string_split(tenant_name, ' ')) AS word FROM tenants",
        ("Which tenants have '{word}' in their name?", "Look up the customers whose company name includes {word}."),
        "SELECT tenant_id, tenant_name FROM tenants WHERE tenant_name ILIKE '%{word}%'",
    ),
    Family(
        "hosts_by_cpu_family",
        "fuzzy",
        "SELECT DISTINCT split_part(cpu_model, ' ', 2) AS family, status FROM hosts",
        (
            "Which hosts with {family} processors have status {status}?",
            "List {family}-based hosts whose status is {status}.",
        ),
        "SELECT hostname, cpu_model FROM hosts WHERE cpu_model ILIKE '%{family}%' AND status = '{status}'",
    ),
    Family(
        "alarm_message_mentions",
        "fuzzy",
        "SELECT DISTINCT k.keyword, a.severity FROM alarms a JOIN (VALUES ('CPU'), ('memory'), ('disk'), "
        "('traffic'), ('packet loss'), ('health check')) AS k(keyword) ON a.message ILIKE '%' || k.keyword || '%'",
        (
            "Show {severity} alarms whose message mentions {keyword}.",
            "Which {severity} alarms talk about {keyword} in their message?",
        ),
        "SELECT alarm_id, message FROM alarms WHERE message ILIKE '%{keyword}%' AND severity = '{severity}'",
    ),
    Family(
        "tenant_email_domain",
        "fuzzy",
        "SELECT DISTINCT regexp_extract(contact_email, '\\.[a-z]+$') AS tld, support_plan FROM tenants",
        (
            "Which tenants with a {tld} contact email are on the {support_plan} plan?",
            "List {support_plan} customers whose ops email is a {tld} address.",
        ),
        "SELECT tenant_name, contact_email FROM tenants WHERE contact_email LIKE '%{tld}' "
        "AND support_plan = '{support_plan}'",
    ),
    Family(
        "instances_in_subnet",
        "fuzzy",
        "SELECT DISTINCT split_part(private_ip, '.', 2) AS octet FROM instances",
        (
            "Which instances have a private IP in the 10.{octet}.0.0/16 subnet?",
            "List the VMs whose private address starts with 10.{octet} and their IPs.",
        ),
        "SELECT instance_id, private_ip FROM instances WHERE private_ip LIKE '10.{octet}.%'",
    ),
    Family(
        "os_family_count",
        "fuzzy",
        "SELECT DISTINCT split_part(os_image, ' ', 1) AS os_family, status FROM instances",
        (
            "How many {status} instances run any version of {os_family}?",
            "Count the {status} VMs on some release of {os_family}.",
        ),
        "SELECT COUNT(*) AS instance_count FROM instances WHERE os_image ILIKE '{os_family}%' AND status = '{status}'",
    ),
)
