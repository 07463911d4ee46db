"""Seeded generators for the rows of every table, with consistent foreign keys."""

import math
import random
from datetime import date, datetime, time, timedelta
from typing import Any

from project_data.source import vocab

SEED = 20260101
TENANT_COUNT = 80
INSTANCE_COUNT = 700
DETACHED_VOLUME_COUNT = 90
ALARM_COUNT = 600

Row = dict[str, Any]
Rows = dict[str, list[Row]]

# USD per GB-month by volume type, and the discount each billing cycle gets on list prices.
STORAGE_PRICE = {"ssd": 0.10, "hdd": 0.045, "nvme": 0.15, "archive": 0.01}
CYCLE_DISCOUNT = {"monthly": 0.10, "yearly": 0.30, "pay_as_you_go": 0.0}
WINDOW_END_TS = datetime.combine(vocab.WINDOW_END, time(23, 59, 59))


def _day(rng: random.Random, start: date, end: date) -> date:
    """A uniformly drawn day in [start, end]."""
    return start + timedelta(days=rng.randint(0, (end - start).days))


def _moment(rng: random.Random, start: datetime, end: datetime) -> datetime:
    """A uniformly drawn second in [start, end]."""
    return start + timedelta(seconds=rng.randint(0, int((end - start).total_seconds())))


def _hex_id(rng: random.Random, prefix: str, taken: set[str]) -> str:
    """A new id made of `prefix` and 8 hex digits, unique within `taken`."""
    while (value := f"{prefix}{rng.getrandbits(32):08x}") in taken:
        pass
    taken.add(value)
    return value


def _regions() -> list[Row]:
    """One row per region of the vocabulary."""
    return [
        {
            "region_id": rid,
            "region_name": name,
            "country": country,
            "city": city,
            "launch_date": launched,
            "status": status,
        }
        for rid, (name, country, city, launched, status) in vocab.REGIONS.items()
    ]


def _zones(rng: random.Random, regions: list[Row]) -> list[Row]:
    """The zones of every region, opened some months after their region."""
    rows: list[Row] = []
    for region in regions:
        rid = region["region_id"]
        for i, suffix in enumerate(vocab.ZONE_SUFFIXES[rid]):
            zone_id = rid + suffix
            rows.append(
                {
                    "zone_id": zone_id,
                    "region_id": rid,
                    "data_center": f"{region['city'][:3].upper()}-DC{i + 1}",
                    "status": "impaired" if zone_id in vocab.IMPAIRED_ZONES else "available",
                    "power_capacity_kw": round(rng.uniform(1800, 6400), 1),
                    "opened_date": region["launch_date"] + timedelta(days=i * rng.randint(60, 400)),
                }
            )
    return rows


def _tenants(rng: random.Random) -> list[Row]:
    """Customer accounts with unique company names and contact emails."""
    rows: list[Row] = []
    names: set[str] = set()
    regions = list(vocab.REGIONS)
    while len(rows) < TENANT_COUNT:
        # The first tenants take each industry once, so that every industry occurs.
        industry = vocab.INDUSTRIES[len(rows)] if len(rows) < len(vocab.INDUSTRIES) else rng.choice(vocab.INDUSTRIES)
        name = f"{rng.choice(vocab.NAME_FIRST_WORDS)} {rng.choice(vocab.NAME_LAST_WORDS[industry])}"
        if name in names:
            continue
        names.add(name)
        slug = name.lower().replace(" ", "")
        rows.append(
            {
                "tenant_id": 1001 + len(rows),
                "tenant_name": name,
                "industry": industry,
                "support_plan": rng.choices(vocab.SUPPORT_PLANS, weights=(35, 25, 25, 15))[0],
                "billing_cycle": rng.choices(vocab.BILLING_CYCLES, weights=(50, 25, 25))[0],
                "home_region_id": rng.choices(regions, weights=(30, 20, 20, 12, 12, 6))[0],
                "contact_email": f"ops@{slug}{rng.choices(vocab.EMAIL_TLDS, weights=(50, 20, 12, 10, 8))[0]}",
                "is_verified": rng.random() < 0.85,
                "signup_date": _day(rng, date(2024, 1, 1), date(2026, 6, 30)),
            }
        )
    return rows


def _hosts(rng: random.Random, zones: list[Row]) -> list[Row]:
    """Physical servers racked in every zone."""
    rows: list[Row] = []
    for zone in zones:
        for n in range(1, rng.randint(7, 13) + 1):
            cpu_model = rng.choice(list(vocab.CPU_MODELS))
            rows.append(
                {
                    "host_id": 5001 + len(rows),
                    "hostname": f"{zone['zone_id']}-h{n:03d}",
                    "zone_id": zone["zone_id"],
                    "cpu_model": cpu_model,
                    "cpu_cores": vocab.CPU_MODELS[cpu_model],
                    "memory_gb": rng.choice(vocab.HOST_MEMORY_GB),
                    "hypervisor": rng.choices(vocab.HYPERVISORS, weights=(60, 25, 15))[0],
                    "status": rng.choices(vocab.HOST_STATUSES, weights=(82, 8, 6, 4))[0],
                    "rack_id": f"R{rng.randint(1, 20):02d}-{rng.randint(1, 42):02d}",
                    "commissioned_date": _day(rng, max(zone["opened_date"], date(2022, 1, 1)), date(2025, 12, 31)),
                }
            )
    return rows


def _instance_status(rng: random.Random, host_status: str) -> str:
    """Lifecycle state of a VM, which depends on the state of its host."""
    if host_status == "offline":
        return rng.choice(("error", "stopped"))
    if host_status == "maintenance":
        return rng.choice(("stopped", "running"))
    return rng.choices(vocab.INSTANCE_STATUSES, weights=(5, 62, 15, 6, 12))[0]


def _instances(rng: random.Random, tenants: list[Row], hosts: list[Row], zones: list[Row]) -> list[Row]:
    """Virtual machines on live hosts, mostly in the owner's home region."""
    live = [h for h in hosts if h["status"] != "decommissioned"]
    region_of = {z["zone_id"]: z["region_id"] for z in zones}
    octet = {z["zone_id"]: 10 + i for i, z in enumerate(zones)}
    weights = [rng.choice((1, 1, 2, 3, 5, 8)) for _ in tenants]
    ids: set[str] = set()
    ips: set[str] = set()
    rows: list[Row] = []
    for _ in range(INSTANCE_COUNT):
        tenant = rng.choices(tenants, weights=weights)[0]
        home = [h for h in live if region_of[h["zone_id"]] == tenant["home_region_id"]]
        host = rng.choice(home if home and rng.random() < 0.7 else live)
        flavor = rng.choices(list(vocab.FLAVORS), weights=(18, 22, 20, 14, 12, 8, 6))[0]
        vcpus, memory_gb, list_price = vocab.FLAVORS[flavor]
        os_image = rng.choices(vocab.OS_IMAGES, weights=(26, 24, 16, 12, 12, 10))[0]
        if os_image.startswith("Windows"):
            list_price += 0.046 * vcpus
        status = _instance_status(rng, host["status"])
        start = datetime.combine(max(tenant["signup_date"], vocab.WINDOW_START), time())
        if status == "pending":
            start = datetime(2026, 10, 30)
        while (ip := f"10.{octet[host['zone_id']]}.{rng.randint(0, 255)}.{rng.randint(2, 254)}") in ips:
            pass
        ips.add(ip)
        rows.append(
            {
                "instance_id": _hex_id(rng, "i-", ids),
                "instance_name": f"{rng.choice(vocab.WORKLOADS)}-{rng.choices(vocab.ENVIRONMENTS, weights=(55, 25, 20))[0]}"
                f"-{rng.randint(1, 24):02d}",
                "tenant_id": tenant["tenant_id"],
                "host_id": host["host_id"],
                "zone_id": host["zone_id"],
                "flavor": flavor,
                "vcpus": vcpus,
                "memory_gb": memory_gb,
                "os_image": os_image,
                "status": status,
                "private_ip": ip,
                "security_group": rng.choices(vocab.SECURITY_GROUPS, weights=(30, 25, 18, 20, 7))[0],
                "launched_at": _moment(rng, start, WINDOW_END_TS),
                "hourly_price": round(list_price * (1 - CYCLE_DISCOUNT[tenant["billing_cycle"]]), 4),
            }
        )
    return rows


def _volume(rng: random.Random, ids: set[str], tenant: Row, zone_id: str, created: date) -> Row:
    """A detached, healthy volume; callers attach it or mark it failed."""
    volume_type = rng.choices(vocab.VOLUME_TYPES, weights=(45, 25, 20, 10))[0]
    size_gb = rng.choice(vocab.VOLUME_SIZES_GB)
    per_gb = {"ssd": 30, "hdd": 2, "nvme": 60, "archive": 1}[volume_type]
    return {
        "volume_id": _hex_id(rng, "vol-", ids),
        "tenant_id": tenant["tenant_id"],
        "instance_id": None,
        "zone_id": zone_id,
        "volume_type": volume_type,
        "size_gb": size_gb,
        "iops": min(max(size_gb * per_gb, 100), 64000),
        "status": "available",
        "is_encrypted": rng.random() < 0.7,
        "created_at": created,
    }


def _volumes(rng: random.Random, tenants: list[Row], instances: list[Row], zones: list[Row]) -> list[Row]:
    """Root and data volumes of live instances, plus detached and failed volumes."""
    by_id = {t["tenant_id"]: t for t in tenants}
    ids: set[str] = set()
    rows: list[Row] = []
    for inst in instances:
        if inst["status"] == "terminated":
            continue
        for _ in range(1 if rng.random() < 0.72 else 2):
            volume = _volume(rng, ids, by_id[inst["tenant_id"]], inst["zone_id"], inst["launched_at"].date())
            volume.update(instance_id=inst["instance_id"], status="in-use")
            rows.append(volume)
    for _ in range(DETACHED_VOLUME_COUNT):
        tenant = rng.choice(tenants)
        home = [z["zone_id"] for z in zones if z["region_id"] == tenant["home_region_id"]]
        volume = _volume(
            rng,
            ids,
            tenant,
            rng.choice(home),
            _day(rng, max(tenant["signup_date"], vocab.WINDOW_START), vocab.WINDOW_END),
        )
        if rng.random() < 0.2:
            volume["status"] = "error"
        rows.append(volume)
    return rows


def _alarms(rng: random.Random, instances: list[Row]) -> list[Row]:
    """Threshold alarms on instances that were not terminated, most of them resolved."""
    live = [i for i in instances if i["status"] in ("running", "stopped", "error")]
    noisy = [rng.choice((1, 1, 1, 2, 4)) for _ in live]
    rows: list[Row] = []
    for n in range(ALARM_COUNT):
        inst = rng.choices(live, weights=noisy)[0]
        metric = rng.choice(list(vocab.METRICS))
        base, unit, message = vocab.METRICS[metric]
        threshold = base if metric == "status_check_failed" else round(base * rng.choice((0.9, 1.0, 1.05)), 1)
        observed = (
            float(rng.randint(1, 3))
            if metric == "status_check_failed"
            else round(threshold * rng.uniform(1.01, 1.35), 2)
        )
        triggered = _moment(rng, inst["launched_at"], WINDOW_END_TS)
        recent = (WINDOW_END_TS - triggered).days < 3
        status = rng.choices(vocab.ALARM_STATUSES, weights=(45, 35, 20) if recent else (8, 10, 82))[0]
        resolved = None
        if status == "resolved":
            resolved = min(triggered + timedelta(minutes=int(rng.expovariate(1 / 360)) + 3), WINDOW_END_TS)
        rows.append(
            {
                "alarm_id": 90001 + n,
                "instance_id": inst["instance_id"],
                "metric_name": metric,
                "severity": rng.choices(vocab.SEVERITIES, weights=(12, 23, 30, 35))[0],
                "threshold": threshold,
                "observed_value": observed,
                "status": status,
                "triggered_at": triggered,
                "resolved_at": resolved,
                "message": f"{message.format(name=inst['instance_name'])}: {observed:g}{unit}, threshold {threshold:g}{unit}",
            }
        )
    return rows


def _next_month(day: date) -> date:
    """First day of the month after `day`'s month."""
    return date(day.year + day.month // 12, day.month % 12 + 1, 1)


def _month_starts(first: date) -> list[date]:
    """First days of the months from `first`'s month through the window's last month."""
    months = [date(first.year, first.month, 1)]
    while _next_month(months[-1]) <= vocab.WINDOW_END:
        months.append(_next_month(months[-1]))
    return months


def _invoice_status(rng: random.Random, month: date) -> str:
    """Payment state: the last month is still unpaid, older months are mostly paid."""
    if month.month == vocab.WINDOW_END.month:
        return "unpaid"
    return rng.choices(("paid", "overdue", "disputed"), weights=(88, 8, 4))[0]


def _invoices(rng: random.Random, tenants: list[Row], instances: list[Row], volumes: list[Row]) -> list[Row]:
    """Monthly invoices per tenant from its first month in the window, priced from its resources."""
    rows: list[Row] = []
    for tenant in tenants:
        owned = [i for i in instances if i["tenant_id"] == tenant["tenant_id"]]
        disks = [v for v in volumes if v["tenant_id"] == tenant["tenant_id"]]
        for month in _month_starts(max(tenant["signup_date"], vocab.WINDOW_START)):
            following = _next_month(month)
            hourly = sum(i["hourly_price"] for i in owned if i["launched_at"].date() < following)
            compute = round(hourly * 730 * rng.uniform(0.55, 1.0), 2)
            storage = round(
                sum(STORAGE_PRICE[v["volume_type"]] * v["size_gb"] for v in disks if v["created_at"] < following), 2
            )
            network = round(rng.uniform(4, 420), 2)
            status = _invoice_status(rng, month)
            due = date(following.year, following.month, 15)
            rows.append(
                {
                    "invoice_id": f"INV-{month:%Y%m}-{tenant['tenant_id']}",
                    "tenant_id": tenant["tenant_id"],
                    "billing_month": month,
                    "compute_cost": compute,
                    "storage_cost": storage,
                    "network_cost": network,
                    "total_amount": round(compute + storage + network, 2),
                    "payment_status": status,
                    "due_date": due,
                    "paid_date": due - timedelta(days=rng.randint(0, 14)) if status == "paid" else None,
                }
            )
    return rows


def _quotas(rng: random.Random, tenants: list[Row], instances: list[Row], volumes: list[Row]) -> list[Row]:
    """One limit per tenant and resource type, with usage summed from live instances and volumes."""
    rows: list[Row] = []
    for tenant in tenants:
        live = [i for i in instances if i["tenant_id"] == tenant["tenant_id"] and i["status"] != "terminated"]
        used = {
            "vcpus": sum(i["vcpus"] for i in live),
            "memory_gb": sum(i["memory_gb"] for i in live),
            "volume_gb": sum(v["size_gb"] for v in volumes if v["tenant_id"] == tenant["tenant_id"]),
            "instances": len(live),
        }
        for resource in vocab.QUOTA_RESOURCES:
            step = 100 if resource in ("memory_gb", "volume_gb") else 10
            wanted = used[resource] / rng.uniform(0.45, 1.0)
            rows.append(
                {
                    "quota_id": len(rows) + 1,
                    "tenant_id": tenant["tenant_id"],
                    "resource_type": resource,
                    "quota_limit": max(step, math.ceil(wanted / step) * step),
                    "used_amount": used[resource],
                    "updated_at": _day(rng, max(tenant["signup_date"], vocab.WINDOW_START), vocab.WINDOW_END),
                }
            )
    return rows


def generate() -> Rows:
    """All rows of every table, keyed by table name, drawn from one seeded generator."""
    rng = random.Random(SEED)
    regions = _regions()
    zones = _zones(rng, regions)
    tenants = _tenants(rng)
    hosts = _hosts(rng, zones)
    instances = _instances(rng, tenants, hosts, zones)
    volumes = _volumes(rng, tenants, instances, zones)
    return {
        "regions": regions,
        "availability_zones": zones,
        "tenants": tenants,
        "hosts": hosts,
        "instances": instances,
        "volumes": volumes,
        "alarms": _alarms(rng, instances),
        "invoices": _invoices(rng, tenants, instances, volumes),
        "quotas": _quotas(rng, tenants, instances, volumes),
    }
