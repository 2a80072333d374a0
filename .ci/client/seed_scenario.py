"""The seed's scenario, run by a client generated from the served OpenAPI document.

CI generates `docket_client` with openapi-python-client from `/api/v1/openapi.json`, then
runs this against a live server: create 100 cases, bulk-update them all from
"In Progress" to "Under Review", poll the job to `completed`, and read every case back.
Every read must show the new status (the stale reads the seed describes: zero).

Usage: python seed_scenario.py BASE_URL TOKEN
"""

import sys
import time
import uuid

from docket_client import AuthenticatedClient
from docket_client.api.bulk import bulk_update
from docket_client.api.cases import create_case, get_case
from docket_client.api.jobs import get_job_status
from docket_client.models import (
    BulkAccepted,
    BulkItem,
    BulkOptions,
    BulkRequest,
    Case,
    InitialStatus,
    JobState,
    JobStatus,
    NewCase,
    Status,
)


def main(base_url: str, token: str) -> None:
    client = AuthenticatedClient(base_url=base_url, token=token, raise_on_unexpected_status=True)
    run = uuid.uuid4().hex[:8]
    ids = []
    for i in range(100):
        created = create_case.sync(
            client=client,
            body=NewCase(
                title=f"Seed scenario {run} case {i}",
                case_id=f"SEED-{run}-{i:03}",
                status=InitialStatus.IN_PROGRESS,
            ),
        )
        assert isinstance(created, Case), created
        assert created.status == Status.IN_PROGRESS, created.status
        ids.append(created.case_id)

    answer = bulk_update.sync(
        client=client,
        body=BulkRequest(
            updates=[BulkItem(case_id=c, status="Under Review") for c in ids],
            options=BulkOptions(return_job_id=True),
        ),
    )
    assert isinstance(answer, BulkAccepted), answer
    assert answer.queued == 100, answer.queued
    job_id = answer.job_id

    deadline = time.monotonic() + 60
    while True:
        status = get_job_status.sync(job_id, client=client, wait_seconds=5)
        assert isinstance(status, JobStatus), status
        if status.status not in (JobState.QUEUED, JobState.RUNNING):
            break
        assert time.monotonic() < deadline, "the job did not end within 60 s"
    assert status.status == JobState.COMPLETED, status.status
    assert status.succeeded == 100 and status.failed == 0, (status.succeeded, status.failed)

    stale = []
    for c in ids:
        case = get_case.sync(c, client=client)
        assert isinstance(case, Case), case
        if case.status != Status.UNDER_REVIEW:
            stale.append((c, case.status))
    assert not stale, f"{len(stale)} stale reads after completed: {stale[:5]}"
    print(f"seed scenario: 100 cases created, bulk-updated by {job_id}, completed; 100 reads, 0 stale")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
