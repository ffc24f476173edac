"""The peer for the soak: what teams script today. Runs and follows N builds at once with the
official Azure SDK for Python (begin_run(...).result(), then run_outputs.list), one thread per
build, and prints its own CPU seconds and peak RSS as JSON.
Usage: sdk_follow.py BASE TENANT CLIENT SECRET SUBSCRIPTION N (REQUESTS_CA_BUNDLE = the simulator's CA)."""
import json
import resource
import sys
import time
from concurrent.futures import ThreadPoolExecutor

from azure.identity import ClientSecretCredential
from azure.mgmt.imagebuilder import ImageBuilderClient

base, tenant, client_id, secret, subscription, n = sys.argv[1:7]
n = int(n)
credential = ClientSecretCredential(tenant, client_id, secret, authority=base, disable_instance_discovery=True)
client = ImageBuilderClient(credential, subscription, base_url=base, credential_scopes=["https://management.azure.com/.default"])


def follow(i):
    name = f"py-{i}"
    client.virtual_machine_image_templates.begin_run("images", name).result()
    return [o.name for o in client.virtual_machine_image_templates.list_run_outputs("images", name)]


started = time.monotonic()
with ThreadPoolExecutor(max_workers=n) as pool:
    outputs = list(pool.map(follow, range(n)))
usage = resource.getrusage(resource.RUSAGE_SELF)
print(json.dumps({"builds": sum(1 for o in outputs if o), "cpu_s": usage.ru_utime + usage.ru_stime,
                  "peak_rss_kb": usage.ru_maxrss, "seconds": time.monotonic() - started}))
