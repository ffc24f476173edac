"""Drives `imagebuildd simulate` with the official Azure SDK for Python.

The simulator is checked by a client nobody here wrote: where the SDK and the simulator
disagree, the simulator is wrong. Usage: sdk-check.py BASE_URL TENANT CLIENT SECRET SUBSCRIPTION
(with REQUESTS_CA_BUNDLE pointing at the simulator's CA).
"""
import sys

from azure.core.exceptions import HttpResponseError
from azure.identity import ClientSecretCredential
from azure.mgmt.imagebuilder import ImageBuilderClient

base, tenant, client_id, secret, subscription = sys.argv[1:6]
rg = "images"

credential = ClientSecretCredential(tenant, client_id, secret, authority=base, disable_instance_discovery=True)
client = ImageBuilderClient(credential, subscription, base_url=base,
                            credential_scopes=["https://management.azure.com/.default"], polling_interval=1)
checks = 0


def check(condition, what):
    global checks
    if not condition:
        sys.exit(f"sdk-check: FAILED: {what}")
    checks += 1
    print(f"sdk-check: ok: {what}")


template = client.virtual_machine_image_templates.get(rg, "golden")
check(template.name == "golden" and template.distribute[0].run_output_name == "golden-image", "get decodes the template")

poller = client.virtual_machine_image_templates.begin_run(rg, "golden")
check(not poller.done(), "begin_run is accepted and in progress")
poller.result()
template = client.virtual_machine_image_templates.get(rg, "golden")
status = template.last_run_status
check(status.run_state == "Succeeded" and status.start_time is not None and status.end_time is not None,
      f"run polled until done: lastRunStatus {status.run_state}")

outputs = list(client.virtual_machine_image_templates.list_run_outputs(rg, "golden"))
check([o.name for o in outputs] == ["golden-image"] and outputs[0].artifact_id, "run_outputs.list returns the artifact")

client.virtual_machine_image_templates.begin_run(rg, "stuck")
try:
    client.virtual_machine_image_templates.begin_run(rg, "stuck")
    check(False, "a second run while running must be refused")
except HttpResponseError as error:
    check(error.status_code == 409 and error.error.code == "OperationNotAllowed", "run while running: 409 OperationNotAllowed")

client.virtual_machine_image_templates.begin_cancel(rg, "stuck").result()
state = client.virtual_machine_image_templates.get(rg, "stuck").last_run_status.run_state
check(state == "Canceled", f"begin_cancel polled until done: runState {state}")

names = sorted(t.name for t in client.virtual_machine_image_templates.list_by_resource_group(rg))
check(names == ["golden", "stuck"], f"list_by_resource_group pages through every template: {names}")

print(f"sdk-check: {checks} checks passed with azure-mgmt-imagebuilder (api-version {client._config.api_version})")
