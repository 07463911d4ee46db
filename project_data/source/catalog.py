"""Tables and columns of the cloud operations database, with the Chinese names, descriptions and reasons of the workbook."""

from dataclasses import dataclass

from project_data.source import vocab


@dataclass(frozen=True)
class Column:
    """One column: DuckDB type, workbook texts, an optional closed value set, and its key role.

    Without `values`, the workbook's possible values are taken from the generated data. `key` marks the
    primary key and `references` names the "table.column" a foreign key points to; the build checks both
    on the data instead of declaring them, which would triple the size of database.duckdb.
    """

    name: str
    zh: str
    type: str
    description: str
    reason: str
    values: tuple[str, ...] | None = None
    key: bool = False
    references: str = ""


@dataclass(frozen=True)
class Table:
    """One table: its name, what one row is, and its columns."""

    name: str
    description: str
    columns: tuple[Column, ...]

    def column(self, name: str) -> Column:
        """Return the column called `name`."""
        return next(c for c in self.columns if c.name == name)


REGIONS = Table(
    "regions",
    "One row per cloud region: a geographic area that contains several availability zones.",
    (
        Column(
            "region_id",
            "区域ID",
            "VARCHAR",
            "Region code, e.g. us-east-1.",
            "Every zone, tenant home and quota is scoped to a region.",
            key=True,
        ),
        Column(
            "region_name",
            "区域名称",
            "VARCHAR",
            "Human-readable region name with its metro area.",
            "Operators and customers refer to regions by this name in tickets.",
        ),
        Column(
            "country",
            "国家",
            "VARCHAR",
            "Country where the region's data centers are located.",
            "Data residency and compliance questions are asked per country.",
        ),
        Column(
            "city",
            "城市",
            "VARCHAR",
            "City of the region's main data center campus.",
            "Helps locate on-site staff and plan hardware shipments.",
        ),
        Column(
            "launch_date",
            "开服日期",
            "DATE",
            "Date the region became generally available.",
            "Older regions run older hardware generations.",
        ),
        Column(
            "status",
            "区域状态",
            "VARCHAR",
            "Operational state of the region.",
            "New launches are blocked in regions under maintenance or in preview.",
            values=vocab.REGION_STATUSES,
        ),
    ),
)

AVAILABILITY_ZONES = Table(
    "availability_zones",
    "One row per availability zone: an isolated data center location inside a region.",
    (
        Column(
            "zone_id",
            "可用区ID",
            "VARCHAR",
            "Zone code: the region code plus a letter, e.g. us-east-1a.",
            "Hosts, instances and volumes are placed in exactly one zone.",
            key=True,
        ),
        Column(
            "region_id",
            "所属区域ID",
            "VARCHAR",
            "Region that contains the zone.",
            "Joins zones to their region for regional reports.",
            references="regions.region_id",
        ),
        Column(
            "data_center",
            "机房名称",
            "VARCHAR",
            "Code of the data center building that hosts the zone.",
            "Field engineers are dispatched to a data center, not to a zone id.",
        ),
        Column(
            "status",
            "可用区状态",
            "VARCHAR",
            "Health of the zone as a whole.",
            "An impaired zone should not receive new workloads.",
            values=vocab.ZONE_STATUSES,
        ),
        Column(
            "power_capacity_kw",
            "供电容量（千瓦）",
            "DOUBLE",
            "Contracted power capacity of the zone in kilowatts.",
            "Power is the hard limit on how many more hosts a zone can take.",
        ),
        Column(
            "opened_date",
            "启用日期",
            "DATE",
            "Date the zone started accepting workloads.",
            "Tells how long a zone has been in service.",
        ),
    ),
)

TENANTS = Table(
    "tenants",
    "One row per tenant: a customer account that owns instances, volumes, quotas and invoices.",
    (
        Column(
            "tenant_id",
            "租户ID",
            "BIGINT",
            "Numeric account id of the tenant.",
            "The key that links resources and invoices to a customer.",
            key=True,
        ),
        Column(
            "tenant_name",
            "租户名称",
            "VARCHAR",
            "Company name of the tenant.",
            "Support tickets and account managers use the company name.",
        ),
        Column(
            "industry",
            "所属行业",
            "VARCHAR",
            "Industry the tenant operates in.",
            "Usage patterns and compliance needs differ by industry.",
            values=vocab.INDUSTRIES,
        ),
        Column(
            "support_plan",
            "支持计划",
            "VARCHAR",
            "Support plan the tenant pays for.",
            "Decides response times when the tenant's resources are affected.",
            values=vocab.SUPPORT_PLANS,
        ),
        Column(
            "billing_cycle",
            "计费周期",
            "VARCHAR",
            "How the tenant is billed: monthly, yearly commitment or pay as you go.",
            "Drives invoicing and revenue forecasting.",
            values=vocab.BILLING_CYCLES,
        ),
        Column(
            "home_region_id",
            "主区域ID",
            "VARCHAR",
            "Region where the tenant's account was created.",
            "Default region for the tenant's quotas and data residency.",
            references="regions.region_id",
        ),
        Column(
            "contact_email",
            "联系邮箱",
            "VARCHAR",
            "Operations contact address of the tenant.",
            "Where incident notifications are sent.",
        ),
        Column(
            "is_verified",
            "是否已认证",
            "BOOLEAN",
            "Whether the tenant passed identity and payment verification.",
            "Unverified tenants get lower quotas and closer fraud review.",
        ),
        Column(
            "signup_date",
            "注册日期",
            "DATE",
            "Date the tenant account was created.",
            "Separates new customers from established ones.",
        ),
    ),
)

HOSTS = Table(
    "hosts",
    "One row per physical host: a hypervisor server in a zone that runs virtual machine instances.",
    (
        Column(
            "host_id",
            "主机ID",
            "BIGINT",
            "Numeric id of the physical server.",
            "Links instances to the hardware they run on.",
            key=True,
        ),
        Column(
            "hostname",
            "主机名",
            "VARCHAR",
            "DNS name of the host: zone, then a host number, e.g. us-east-1a-h007.",
            "What on-call engineers see in dashboards and pages.",
        ),
        Column(
            "zone_id",
            "可用区ID",
            "VARCHAR",
            "Zone where the host is racked.",
            "Capacity is planned per zone.",
            references="availability_zones.zone_id",
        ),
        Column(
            "cpu_model",
            "CPU型号",
            "VARCHAR",
            "Processor model of the host.",
            "Decides which flavors the host can serve and its performance.",
            values=tuple(vocab.CPU_MODELS),
        ),
        Column(
            "cpu_cores",
            "CPU核数",
            "BIGINT",
            "Physical CPU cores of the host across both sockets.",
            "Upper bound on the vCPUs that can be scheduled on it.",
        ),
        Column(
            "memory_gb",
            "内存（GB）",
            "BIGINT",
            "Installed memory of the host in GB.",
            "Memory is usually the first resource to run out on a host.",
        ),
        Column(
            "hypervisor",
            "虚拟化类型",
            "VARCHAR",
            "Virtualization stack running on the host.",
            "Patches and live-migration rules differ by hypervisor.",
            values=vocab.HYPERVISORS,
        ),
        Column(
            "status",
            "主机状态",
            "VARCHAR",
            "Operational state of the host.",
            "Only online hosts take new instances; offline hosts need repair.",
            values=vocab.HOST_STATUSES,
        ),
        Column(
            "rack_id",
            "机柜编号",
            "VARCHAR",
            "Row and rack position of the host in the data center, e.g. R03-12.",
            "Needed for hands-on work and for spotting rack-level failures.",
        ),
        Column(
            "commissioned_date",
            "上架日期",
            "DATE",
            "Date the host entered service.",
            "Hardware refresh is planned by host age.",
        ),
    ),
)

INSTANCES = Table(
    "instances",
    "One row per virtual machine instance launched by a tenant on a host.",
    (
        Column(
            "instance_id",
            "实例ID",
            "VARCHAR",
            "Unique instance id, 'i-' followed by 8 hex digits.",
            "The id used in APIs, alarms and volume attachments.",
            key=True,
        ),
        Column(
            "instance_name",
            "实例名称",
            "VARCHAR",
            "Name the tenant gave the VM: workload, environment and number, e.g. web-prod-03.",
            "Operators search instances by name fragments such as prod or mysql.",
        ),
        Column(
            "tenant_id",
            "租户ID",
            "BIGINT",
            "Tenant that owns the instance.",
            "Tells whose workload is affected.",
            references="tenants.tenant_id",
        ),
        Column(
            "host_id",
            "主机ID",
            "BIGINT",
            "Physical host the instance runs on.",
            "Finds every VM hit by a host failure.",
            references="hosts.host_id",
        ),
        Column(
            "zone_id",
            "可用区ID",
            "VARCHAR",
            "Zone of the instance, always the zone of its host.",
            "Zone outages are scoped with this column.",
            references="availability_zones.zone_id",
        ),
        Column(
            "flavor",
            "规格",
            "VARCHAR",
            "Instance type that fixes vCPUs, memory and list price.",
            "Capacity and pricing questions are asked per flavor.",
            values=tuple(vocab.FLAVORS),
        ),
        Column(
            "vcpus",
            "vCPU数",
            "BIGINT",
            "Virtual CPUs of the instance, set by its flavor.",
            "Counts against the tenant's vCPU quota.",
        ),
        Column(
            "memory_gb",
            "内存（GB）",
            "BIGINT",
            "Memory of the instance in GB, set by its flavor.",
            "Counts against the tenant's memory quota.",
        ),
        Column(
            "os_image",
            "操作系统镜像",
            "VARCHAR",
            "Operating system image the instance was launched from.",
            "Security patching is tracked per OS image.",
            values=vocab.OS_IMAGES,
        ),
        Column(
            "status",
            "实例状态",
            "VARCHAR",
            "Lifecycle state of the instance.",
            "Running instances are billed; error instances need attention.",
            values=vocab.INSTANCE_STATUSES,
        ),
        Column(
            "private_ip",
            "私网IP",
            "VARCHAR",
            "Private IPv4 address, from the 10.x.0.0/16 subnet of its zone.",
            "Network troubleshooting starts from the IP address.",
        ),
        Column(
            "security_group",
            "安全组",
            "VARCHAR",
            "Security group, a virtual firewall, attached to the instance.",
            "sg-ssh-open exposes SSH to the internet and is audited.",
            values=vocab.SECURITY_GROUPS,
        ),
        Column(
            "launched_at",
            "启动时间",
            "TIMESTAMP",
            "When the instance was launched.",
            "Used to track growth and the age of workloads.",
        ),
        Column(
            "hourly_price",
            "小时单价（美元）",
            "DOUBLE",
            "Price per running hour in USD after the tenant's discount.",
            "Drives the compute part of the invoice.",
        ),
    ),
)

VOLUMES = Table(
    "volumes",
    "One row per block storage volume. An in-use volume is attached to one instance.",
    (
        Column(
            "volume_id",
            "云盘ID",
            "VARCHAR",
            "Unique volume id, 'vol-' followed by 8 hex digits.",
            "The id used in storage APIs and tickets.",
            key=True,
        ),
        Column(
            "tenant_id",
            "租户ID",
            "BIGINT",
            "Tenant that owns the volume.",
            "Storage cost is billed to this tenant.",
            references="tenants.tenant_id",
        ),
        Column(
            "instance_id",
            "挂载实例ID",
            "VARCHAR",
            "Instance the volume is attached to, NULL when the volume is detached.",
            "Detached volumes cost money without doing work.",
            references="instances.instance_id",
        ),
        Column(
            "zone_id",
            "可用区ID",
            "VARCHAR",
            "Zone where the volume is stored.",
            "A volume can only attach to an instance in the same zone.",
            references="availability_zones.zone_id",
        ),
        Column(
            "volume_type",
            "云盘类型",
            "VARCHAR",
            "Storage class of the volume.",
            "Performance and price depend on the storage class.",
            values=vocab.VOLUME_TYPES,
        ),
        Column(
            "size_gb", "容量（GB）", "BIGINT", "Provisioned size in GB.", "Counts against the tenant's storage quota."
        ),
        Column(
            "iops",
            "IOPS上限",
            "BIGINT",
            "Provisioned input/output operations per second.",
            "Explains slow disks when a workload hits the limit.",
        ),
        Column(
            "status",
            "云盘状态",
            "VARCHAR",
            "Attachment state of the volume.",
            "Available volumes are unattached; error volumes need repair.",
            values=vocab.VOLUME_STATUSES,
        ),
        Column(
            "is_encrypted",
            "是否加密",
            "BOOLEAN",
            "Whether the volume is encrypted at rest.",
            "Compliance audits list unencrypted volumes.",
        ),
        Column("created_at", "创建日期", "DATE", "Date the volume was created.", "Finds old, forgotten volumes."),
    ),
)

ALARMS = Table(
    "alarms",
    "One row per monitoring alarm raised on an instance when a metric crossed its threshold.",
    (
        Column("alarm_id", "告警ID", "BIGINT", "Numeric id of the alarm.", "Referenced in incident tickets.", key=True),
        Column(
            "instance_id",
            "实例ID",
            "VARCHAR",
            "Instance the alarm was raised on.",
            "Links the alarm to the workload and its tenant.",
            references="instances.instance_id",
        ),
        Column(
            "metric_name",
            "监控指标",
            "VARCHAR",
            "Monitored metric that crossed its threshold.",
            "Groups alarms by the kind of problem.",
            values=tuple(vocab.METRICS),
        ),
        Column(
            "severity",
            "告警级别",
            "VARCHAR",
            "Alarm severity, from critical, which pages on-call at once, down to warning.",
            "Decides who is paged and how fast.",
            values=vocab.SEVERITIES,
        ),
        Column(
            "threshold",
            "阈值",
            "DOUBLE",
            "Threshold of the alarm rule, in the metric's unit.",
            "Compared with the observed value to judge how bad it was.",
        ),
        Column(
            "observed_value",
            "观测值",
            "DOUBLE",
            "Metric value that triggered the alarm.",
            "Shows how far past the threshold the metric went.",
        ),
        Column(
            "status",
            "告警状态",
            "VARCHAR",
            "Handling state of the alarm.",
            "Open alarms are not yet acknowledged by anyone.",
            values=vocab.ALARM_STATUSES,
        ),
        Column(
            "triggered_at",
            "触发时间",
            "TIMESTAMP",
            "When the alarm fired.",
            "Incident timelines and daily alarm counts use it.",
        ),
        Column(
            "resolved_at",
            "恢复时间",
            "TIMESTAMP",
            "When the alarm was resolved, NULL while not resolved.",
            "Time to resolve is a key operations metric.",
        ),
        Column(
            "message",
            "告警信息",
            "VARCHAR",
            "Alarm text sent to on-call, naming the problem and the instance.",
            "What engineers search when they remember a symptom.",
        ),
    ),
)

INVOICES = Table(
    "invoices",
    "One row per monthly invoice of a tenant, in USD.",
    (
        Column(
            "invoice_id",
            "账单ID",
            "VARCHAR",
            "Invoice number: INV, billing year and month, tenant id.",
            "Quoted by finance and by customers.",
            key=True,
        ),
        Column(
            "tenant_id",
            "租户ID",
            "BIGINT",
            "Tenant that is billed.",
            "Links revenue to customers.",
            references="tenants.tenant_id",
        ),
        Column(
            "billing_month",
            "账期月份",
            "DATE",
            "First day of the billed month.",
            "Revenue is reported per billing month.",
        ),
        Column(
            "compute_cost",
            "计算费用",
            "DOUBLE",
            "Charges for instance hours in USD.",
            "Usually the biggest part of the bill.",
        ),
        Column(
            "storage_cost",
            "存储费用",
            "DOUBLE",
            "Charges for volumes in USD.",
            "Grows with provisioned storage, even when unused.",
        ),
        Column(
            "network_cost",
            "网络费用",
            "DOUBLE",
            "Charges for outbound traffic in USD.",
            "Spikes here point at data transfer or abuse.",
        ),
        Column(
            "total_amount",
            "账单总额",
            "DOUBLE",
            "Total billed in USD: compute plus storage plus network.",
            "The amount the tenant owes.",
        ),
        Column(
            "payment_status",
            "支付状态",
            "VARCHAR",
            "Collection state of the invoice.",
            "Overdue invoices can lead to suspended accounts.",
            values=vocab.PAYMENT_STATUSES,
        ),
        Column(
            "due_date",
            "到期日",
            "DATE",
            "Date payment is due: the 15th of the following month.",
            "Invoices past this date without payment become overdue.",
        ),
        Column(
            "paid_date",
            "支付日期",
            "DATE",
            "Date the payment arrived, NULL when not paid.",
            "Measures how quickly customers pay.",
        ),
    ),
)

QUOTAS = Table(
    "quotas",
    "One row per tenant and resource type: the tenant's limit and its current usage.",
    (
        Column(
            "quota_id",
            "配额ID",
            "BIGINT",
            "Numeric id of the quota row.",
            "Referenced in quota increase requests.",
            key=True,
        ),
        Column(
            "tenant_id",
            "租户ID",
            "BIGINT",
            "Tenant the quota applies to.",
            "Quotas are set per tenant.",
            references="tenants.tenant_id",
        ),
        Column(
            "resource_type",
            "资源类型",
            "VARCHAR",
            "Resource that is limited.",
            "Each resource has its own limit.",
            values=vocab.QUOTA_RESOURCES,
        ),
        Column(
            "quota_limit",
            "配额上限",
            "BIGINT",
            "Maximum amount of the resource the tenant may use.",
            "Launches fail once usage reaches this limit.",
        ),
        Column(
            "used_amount",
            "已用量",
            "BIGINT",
            "Amount currently used by non-terminated instances and their volumes.",
            "Tenants close to their limit need a quota review.",
        ),
        Column("updated_at", "更新日期", "DATE", "Date the limit was last changed.", "Shows recent quota increases."),
    ),
)

# In dependency order: every table comes after the tables it references.
TABLES: tuple[Table, ...] = (
    REGIONS,
    AVAILABILITY_ZONES,
    TENANTS,
    HOSTS,
    INSTANCES,
    VOLUMES,
    ALARMS,
    INVOICES,
    QUOTAS,
)


def table(name: str) -> Table:
    """Return the table called `name`."""
    return next(t for t in TABLES if t.name == name)
