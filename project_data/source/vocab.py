"""Closed value sets and word lists shared by the catalog (possible values) and the data generators."""

from datetime import date

# Operational events (instance launches, volumes, alarms, billing months) fall in this window.
WINDOW_START = date(2026, 1, 1)
WINDOW_END = date(2026, 10, 31)

# region_id -> (region_name, country, city, launch_date, status)
REGIONS: dict[str, tuple[str, str, str, date, str]] = {
    "us-east-1": ("US East (Virginia)", "United States", "Ashburn", date(2018, 3, 12), "active"),
    "us-west-2": ("US West (Oregon)", "United States", "Hillsboro", date(2019, 6, 3), "active"),
    "eu-central-1": ("EU Central (Frankfurt)", "Germany", "Frankfurt", date(2020, 9, 21), "active"),
    "eu-west-1": ("EU West (Dublin)", "Ireland", "Dublin", date(2021, 4, 15), "maintenance"),
    "ap-southeast-1": ("Asia Pacific (Singapore)", "Singapore", "Singapore", date(2022, 11, 8), "active"),
    "cn-north-1": ("China North (Beijing)", "China", "Beijing", date(2024, 2, 26), "preview"),
}
REGION_STATUSES = ("active", "maintenance", "preview")

# Zones per region (suffix letters); the zone id is region_id + suffix.
ZONE_SUFFIXES: dict[str, tuple[str, ...]] = {
    "us-east-1": ("a", "b", "c", "d"),
    "us-west-2": ("a", "b", "c"),
    "eu-central-1": ("a", "b", "c"),
    "eu-west-1": ("a", "b"),
    "ap-southeast-1": ("a", "b"),
    "cn-north-1": ("a", "b"),
}
ZONE_STATUSES = ("available", "impaired")
IMPAIRED_ZONES = ("eu-west-1b", "us-east-1d")

INDUSTRIES = ("finance", "retail", "gaming", "healthcare", "education", "manufacturing", "media", "logistics")
SUPPORT_PLANS = ("basic", "developer", "business", "enterprise")
BILLING_CYCLES = ("monthly", "yearly", "pay_as_you_go")
NAME_FIRST_WORDS = (
    "Acme",
    "Blue Harbor",
    "Northwind",
    "Silverline",
    "Redwood",
    "Quantum",
    "Bright Path",
    "Ironclad",
    "Lumen",
    "Summit",
    "Cobalt",
    "Evergreen",
    "Polaris",
    "Crescent",
    "Falcon",
    "Orchid",
)
NAME_LAST_WORDS: dict[str, tuple[str, ...]] = {
    "finance": ("Capital", "Payments", "Securities"),
    "retail": ("Retail", "Outfitters", "Market"),
    "gaming": ("Games", "Studios", "Arcade"),
    "healthcare": ("Health", "Clinics", "Biotech"),
    "education": ("Learning", "Academy", "EdTech"),
    "manufacturing": ("Robotics", "Industries", "Motors"),
    "media": ("Media", "Streaming", "Broadcast"),
    "logistics": ("Logistics", "Freight", "Shipping"),
}
EMAIL_TLDS = (".com", ".io", ".net", ".de", ".cn")

# cpu_model -> physical cores per two-socket host
CPU_MODELS: dict[str, int] = {
    "Intel Xeon Gold 6348": 56,
    "Intel Xeon Platinum 8480": 112,
    "AMD EPYC 7763": 128,
    "AMD EPYC 9654": 192,
    "Ampere Altra Q80-30": 80,
}
HOST_MEMORY_GB = (512, 768, 1024, 1536)
HYPERVISORS = ("KVM", "Xen", "Firecracker")
HOST_STATUSES = ("online", "maintenance", "offline", "decommissioned")

# flavor -> (vcpus, memory_gb, hourly list price in USD)
FLAVORS: dict[str, tuple[int, int, float]] = {
    "s1.small": (1, 2, 0.021),
    "s1.medium": (2, 4, 0.042),
    "c2.large": (4, 8, 0.096),
    "c2.xlarge": (8, 16, 0.192),
    "m3.2xlarge": (8, 32, 0.384),
    "r4.4xlarge": (16, 128, 1.008),
    "g5.8xlarge": (32, 128, 2.448),
}
OS_IMAGES = ("Ubuntu 22.04", "Ubuntu 24.04", "Debian 12", "Rocky Linux 9", "Windows Server 2022", "Alpine 3.20")
INSTANCE_STATUSES = ("pending", "running", "stopped", "error", "terminated")
SECURITY_GROUPS = ("default", "sg-web", "sg-db", "sg-internal", "sg-ssh-open")
# Workload prefixes that instance names start with, e.g. "web-prod-03".
WORKLOADS = ("web", "api", "mysql", "redis", "kafka", "etl", "batch", "jenkins", "k8s-node", "nginx")
ENVIRONMENTS = ("prod", "staging", "dev")

VOLUME_TYPES = ("ssd", "hdd", "nvme", "archive")
VOLUME_SIZES_GB = (20, 40, 100, 200, 500, 1000, 2000)
VOLUME_STATUSES = ("in-use", "available", "error")

# metric_name -> (default threshold, unit suffix, message template)
METRICS: dict[str, tuple[float, str, str]] = {
    "cpu_utilization": (90.0, "%", "High CPU utilization on {name}"),
    "memory_usage": (85.0, "%", "Memory pressure on {name}"),
    "disk_usage": (80.0, "%", "Disk nearly full on {name}"),
    "disk_iops": (3000.0, " IOPS", "Disk IOPS throttled on {name}"),
    "network_in": (800.0, " Mbps", "Inbound traffic spike on {name}"),
    "packet_loss": (2.0, "%", "Packet loss detected on {name}"),
    "status_check_failed": (1.0, " failed checks", "Health check failed on {name}"),
}
SEVERITIES = ("critical", "major", "minor", "warning")
ALARM_STATUSES = ("open", "acknowledged", "resolved")

PAYMENT_STATUSES = ("paid", "unpaid", "overdue", "disputed")
QUOTA_RESOURCES = ("vcpus", "memory_gb", "volume_gb", "instances")
