"""Domain terms of cloud operations, for the workbook's concept sheet."""

CONCEPTS: tuple[tuple[str, str], ...] = (
    ("region", "A geographic area (regions.region_id, e.g. eu-central-1) made of several availability zones."),
    (
        "availability zone",
        "An isolated data center location inside a region (availability_zones.zone_id, e.g. us-east-1a). "
        "Hosts, instances and volumes each live in one zone.",
    ),
    (
        "tenant",
        "A customer account (tenants). It owns instances, volumes, quotas and invoices; also called customer or account.",
    ),
    ("host", "A physical hypervisor server (hosts) that runs virtual machines; also called node or server."),
    ("instance", "A virtual machine (instances) launched by a tenant on a host; also called VM or server instance."),
    ("flavor", "An instance type (instances.flavor, e.g. c2.xlarge) that fixes vCPUs, memory and list price."),
    ("vCPU", "A virtual CPU of an instance (instances.vcpus); vCPUs count against the tenant's vcpus quota."),
    (
        "volume",
        "A block storage disk (volumes). Status in-use means attached to an instance, available means detached.",
    ),
    (
        "security group",
        "A virtual firewall attached to an instance (instances.security_group). "
        "sg-ssh-open allows SSH from the internet and is considered risky.",
    ),
    (
        "quota",
        "The maximum amount of a resource a tenant may use (quotas.quota_limit) next to its usage (quotas.used_amount). "
        "Utilization is used_amount / quota_limit.",
    ),
    (
        "alarm severity",
        "How urgent an alarm is (alarms.severity): critical > major > minor > warning. Critical alarms page on-call.",
    ),
    (
        "open alarm",
        "An alarm that nobody has acknowledged yet (alarms.status = 'open'). "
        "An unresolved alarm is open or acknowledged.",
    ),
    ("time to resolve", "Time between alarms.triggered_at and alarms.resolved_at, for resolved alarms."),
    ("billing cycle", "How a tenant is billed (tenants.billing_cycle): monthly, yearly commitment, or pay_as_you_go."),
    ("billing month", "The month an invoice covers (invoices.billing_month, the first day of the month)."),
    ("overdue invoice", "An invoice not paid by its due date (invoices.payment_status = 'overdue')."),
    (
        "support plan",
        "The support level a tenant pays for (tenants.support_plan): basic, developer, business, enterprise.",
    ),
    ("hypervisor", "The virtualization stack of a host (hosts.hypervisor): KVM, Xen or Firecracker."),
)
