#!/usr/bin/env python3
"""Generate Tests/SchedulerTests/Fixtures/cron-oracles.jsonl: for some 700 random and
hand-picked cron expressions (month and day names in random case, alone, in ranges, steps and lists
mixed with numbers), zones and base times, the next fire times according to

  croniter   Python's croniter (pip install croniter)
  systemd    `systemd-analyze calendar` on the equivalent OnCalendar= spec (null where systemd cannot
             express the expression: both day fields restricted, which cron ORs and systemd ANDs)
  reference  an independent, brute-force implementation of ARCHITECTURE.md's DST contract on
             zoneinfo's fold semantics (no code shared with the Swift scheduler)

and, per row, whether a DST transition is involved, whether a day field is `*/S` with the other
restricted (where croniter follows Vixie cron's AND and the contract ORs), and which oracles agree.
The Swift test reads the table; it needs neither Python nor systemd. Usage:
  pip install croniter && python3 scripts/gen-cron-oracles.py
"""
import json, os, random, subprocess, sys
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo
from croniter import croniter

UTC = timezone.utc
COUNT = 5
OUT = os.path.join(os.path.dirname(__file__), "..", "Tests", "SchedulerTests", "Fixtures", "cron-oracles.jsonl")
FIELDS = [("minute", 0, 59), ("hour", 0, 23), ("dom", 1, 31), ("month", 1, 12), ("dow", 0, 6)]
MONTHS = ["JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC"]
DAYS = ["SUN", "MON", "TUE", "WED", "THU", "FRI", "SAT"]
SYSTEMD_DAYS = ["Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"]
ZONES = ["UTC", "Europe/Berlin", "America/New_York", "Australia/Lord_Howe", "Europe/Dublin",
         "Pacific/Chatham", "America/Sao_Paulo", "Asia/Kolkata"]


def value(token, names, base):
    t = token.upper()
    return names.index(t) + base if t in names else int(token)


def parse_field(text, lo, hi, names=(), base=0):
    """The set of values a field allows (the dialect of ARCHITECTURE.md; inputs here are valid)."""
    out = set()
    for item in text.split(","):
        rng, _, step = item.partition("/")
        step = int(step) if step else 1
        if rng == "*":
            a, b = lo, hi
        elif "-" in rng:
            a, b = (value(x, names, base) for x in rng.split("-"))
        else:
            a = b = value(rng, names, base)
        out.update(range(a, b + 1, step))
    return out


def parse(expr):
    fields = expr.split()
    sets = [parse_field(fields[0], 0, 59), parse_field(fields[1], 0, 23), parse_field(fields[2], 1, 31),
            parse_field(fields[3], 1, 12, MONTHS, 1), {d % 7 for d in parse_field(fields[4], 0, 7, DAYS, 0)}]
    if fields[4] == "*":
        sets[4] = set(range(7))
    return sets, fields[2] != "*", fields[4] != "*", "*" not in fields[0] and "*" not in fields[1]


def day_matches(sets, dom_r, dow_r, d):
    dom_ok, dow_ok = d.day in sets[2], (d.isoweekday() % 7) in sets[4]
    if dom_r and dow_r:
        return dom_ok or dow_ok
    return (dom_ok or not dom_r) and (dow_ok or not dow_r)


def transitions(zone, start, end):
    """UTC instants where the zone's offset changes in [start, end), found by bisection."""
    z, out, step = ZoneInfo(zone), [], timedelta(hours=6)
    t = start
    while t < end:
        if t.astimezone(z).utcoffset() != (t + step).astimezone(z).utcoffset():
            a, b = t, t + step
            while b - a > timedelta(seconds=1):
                m = a + (b - a) / 2
                if m.astimezone(z).utcoffset() == a.astimezone(z).utcoffset():
                    a = m
                else:
                    b = m
            out.append(b.replace(microsecond=0))
        t += step
    return out


def local_instants(z, local):
    """(instants whose local time is `local`, sorted; the end of the gap if there are none)."""
    found = []
    for fold in (0, 1):
        u = local.replace(tzinfo=z, fold=fold).astimezone(UTC)
        if u.astimezone(z).replace(tzinfo=None) == local and u not in found:
            found.append(u)
    if found:
        return sorted(found), None
    lo = local.replace(tzinfo=z, fold=1).astimezone(UTC)
    hi = local.replace(tzinfo=z, fold=0).astimezone(UTC)
    lo, hi = min(lo, hi), max(lo, hi)
    off = hi.astimezone(z).utcoffset()
    while hi - lo > timedelta(seconds=1):
        m = lo + (hi - lo) / 2
        if m.astimezone(z).utcoffset() == off:
            hi = m
        else:
            lo = m
    return [], hi.replace(microsecond=0)


def reference(expr, zone, base):
    """The contract by brute force over local days: wall-clock slots fire once (first occurrence, or
    the end of a gap), interval slots at every instant whose local time matches. Like `next(after:)`,
    each fire time must lie within five years of the one before it."""
    sets, dom_r, dow_r, wall = parse(expr)
    z = ZoneInfo(zone)
    horizon = timedelta(days=5 * 366)
    day = (base.astimezone(z) - timedelta(days=1)).replace(tzinfo=None, hour=0, minute=0, second=0, microsecond=0)
    fires, chain = set(), []
    while len(chain) < COUNT:
        if day.month in sets[3] and day_matches(sets, dom_r, dow_r, day):
            for h in sorted(sets[1]):
                for m in sorted(sets[0]):
                    found, gap_end = local_instants(z, day.replace(hour=h, minute=m))
                    chosen = ([found[0]] if found else [gap_end]) if wall else found
                    fires.update(u for u in chosen if u > base)
        # Settle the chain up to two days behind the scan: nothing later can fire before that.
        settled = day.replace(tzinfo=UTC) - timedelta(days=2)
        cursor = datetime.strptime(chain[-1], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) if chain else base
        while len(chain) < COUNT:
            later = [u for u in fires if u > cursor]
            if not later or min(later) > settled:
                break
            cursor = min(later)
            if cursor > (datetime.strptime(chain[-1], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC) if chain else base) + horizon:
                return chain
            chain.append(fmt(cursor))
        if settled > cursor + horizon:
            return chain
        day += timedelta(days=1)
    return chain


def via_croniter(expr, zone, base):
    try:
        it = croniter(expr, base.astimezone(ZoneInfo(zone)))
        return [fmt(it.get_next(datetime).astimezone(UTC)) for _ in range(COUNT)]
    except Exception:
        return None


def systemd_spec(expr, zone):
    sets, dom_r, dow_r, _ = parse(expr)
    if dom_r and dow_r:
        return None
    f = expr.split()

    def lst(i, fmt2=True):
        return "*" if f[i] == "*" else ",".join(("%02d" if fmt2 else "%d") % v for v in sorted(sets[i]))
    dow = "" if f[4] == "*" else ",".join(SYSTEMD_DAYS[d] for d in sorted(sets[4])) + " "
    return f"{dow}*-{lst(3)}-{lst(2)} {lst(1)}:{lst(0)}:00 {zone}"


def via_systemd(expr, zone, base):
    spec = systemd_spec(expr, zone)
    if spec is None:
        return None
    run = subprocess.run(["systemd-analyze", "calendar", f"--iterations={COUNT}", f"--base-time=@{int(base.timestamp())}", spec],
                         capture_output=True, text=True, env={**os.environ, "TZ": "UTC"})
    if run.returncode != 0:
        return None
    out = []
    for line in run.stdout.splitlines():
        line = line.strip()
        if line.startswith("Next elapse:") or line.startswith("Iter. #"):
            stamp = line.split(": ", 1)[1]  # "Mon 2027-03-29 00:30:00 UTC"
            out.append(fmt(datetime.strptime(stamp[4:23], "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)))
    return out


def fmt(u):
    return u.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def random_case(rng, name):
    """JUL as JUL, jul, Jul or jUl: names are case-insensitive in every engine we compare with."""
    return rng.choice([name, name.lower(), name.capitalize(),
                       "".join(c.lower() if rng.random() < 0.5 else c for c in name)])


def random_field(rng, lo, hi, names=None):
    r = rng.random()
    base = 1 if names is MONTHS else 0
    use_names = names is not None and rng.random() < 0.6

    def v(x):
        return random_case(rng, names[x - base]) if use_names else str(x)

    def mixed(x):
        return random_case(rng, names[x - base]) if names and rng.random() < 0.5 else str(x)
    if r < 0.3:
        return "*"
    if r < 0.5:
        return v(rng.randint(lo, hi))
    if r < 0.65:
        return ",".join(mixed(x) for x in sorted({rng.randint(lo, hi) for _ in range(rng.randint(2, 4))}))
    a = rng.randint(lo, hi - 1)
    b = rng.randint(a + 1, hi)
    if r < 0.78:
        return f"{v(a)}-{v(b)}"
    if r < 0.9:
        return f"{v(a)}-{v(b)}/{rng.randint(1, 5)}"
    return f"*/{rng.choice([2, 3, 5, 10, 15, 20, 30] if hi > 30 else [2, 3, 4, 6])}"


def star_step_day(expr):
    """Both day fields restricted and one of them written `*/S`: Vixie cron and croniter treat a
    field that starts with `*` as unrestricted (AND); the contract ORs unless a field is exactly `*`."""
    f = expr.split()
    return len(f) == 5 and f[2] != "*" and f[4] != "*" and (f[2].startswith("*") or f[4].startswith("*"))


def has_names(expr):
    return any(c.isalpha() for c in expr.split(maxsplit=3)[-1]) and not expr.startswith("@")


HAND_PICKED = [
    "0 2 * * *", "30 2 * * *", "0,30 2,3 * * *", "*/15 * * * *", "30 * * * *", "0 */6 * * *",
    "0 9-17 * * MON-FRI", "0 0 29 2 *", "0 0 31 * *", "0 0 * * 7", "0 0 1,15 * 5", "45 1 * * *",
    "15 2 * * *", "0 3 * * *", "0 0 * * *", "30 23 * * *", "0 1 * * SUN", "*/5 1-3 * * *",
    "0 12 1 * *", "59 23 31 12 *", "0 0 1 1 *", "0 * * * *", "0 2 * * 0", "0-59/20 2 * * *",
    # Issue 11: upper-case names containing L or W were taken for Quartz syntax.
    "0 2 * * WED", "0 2 * JUL *", "0 3 1 JAN-MAR *", "30 4 * jun-aug Sat", "0 2 * APR,JUL,OCT THU",
    "0 2 * JUL-SEP/1 MON-WED", "15 1 * * SUN,WED,6", "0 4 * Jul,AUG,9 *",
]


def main():
    rng = random.Random(20271031)
    now = datetime(2027, 1, 1, tzinfo=UTC)
    edges = {z: transitions(z, now, now + timedelta(days=366)) for z in ZONES}
    edges["America/Sao_Paulo"] += transitions("America/Sao_Paulo", datetime(2018, 10, 1, tzinfo=UTC), datetime(2019, 3, 1, tzinfo=UTC))
    exprs = list(HAND_PICKED)
    while len(exprs) < 700:
        e = " ".join([random_field(rng, 0, 59), random_field(rng, 0, 23), random_field(rng, 1, 28 if rng.random() < 0.8 else 31),
                      random_field(rng, 1, 12, MONTHS), random_field(rng, 0, 6, DAYS)])
        if e not in exprs:
            exprs.append(e)
    rows = []
    for i, expr in enumerate(exprs):
        for k in range(3):
            zone = ZONES[(i + k * 3) % len(ZONES)]
            if k == 0 or not edges[zone]:
                base = now + timedelta(seconds=rng.randrange(0, 366 * 86400))
            else:
                # Shortly before a transition, so the next fire times straddle it.
                base = rng.choice(edges[zone]) - timedelta(minutes=rng.choice([5, 59, 90, 180, 1440]))
            ref = reference(expr, zone, base)
            if not ref:
                continue
            cro, sysd = via_croniter(expr, zone, base), via_systemd(expr, zone, base)
            last = datetime.strptime(ref[-1], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
            edge = any(base - timedelta(hours=3) <= t <= last + timedelta(hours=3) for t in edges[zone]) or \
                bool(transitions(zone, base - timedelta(hours=3), last + timedelta(hours=3)))
            rows.append({"expression": expr, "zone": zone, "after": fmt(base), "croniter": cro, "systemd": sysd,
                         "reference": ref, "dst_edge": edge, "star_step_day": star_step_day(expr),
                         "matches": [n for n, v in (("croniter", cro), ("systemd", sysd)) if v == ref]})
    with open(OUT, "w") as f:
        for row in rows:
            f.write(json.dumps(row, separators=(",", ":")) + "\n")
    edge_rows = [r for r in rows if r["dst_edge"]]
    named = sum(has_names(r["expression"]) for r in rows)
    print(f"{len(rows)} rows ({len(edge_rows)} at DST edges, {named} with names) -> {os.path.relpath(OUT)}")
    for name in ("croniter", "systemd"):
        have = [r for r in rows if r[name] is not None]
        print(f"  overall, {name} answers {len(have)} rows and agrees with the contract in {sum(name in r['matches'] for r in have)}")
    for name in ("croniter", "systemd"):
        have = [r for r in edge_rows if r[name] is not None]
        print(f"  at DST edges, {name} agrees with the contract in {sum(name in r['matches'] for r in have)} of {len(have)}")


if __name__ == "__main__":
    main()
