"""AQL through two third-party clients, against a seeded binyard (see tests/aql_clients.rs):
dohq-artifactory's ArtifactoryPath.aql and artifactory-cleanup's rules in dry-run mode.
Prints one JSON object with what each returned; the Rust test compares it exactly."""

import json
import sys
from datetime import date, timedelta

from artifactory import ArtifactoryPath
from artifactory_cleanup.artifactorycleanup import ArtifactoryCleanup
from artifactory_cleanup.base_url_session import BaseUrlSession
from artifactory_cleanup.context_managers import noop_block_mgr, noop_test_mgr
from artifactory_cleanup import rules
from requests.auth import HTTPBasicAuth

base = sys.argv[1]  # http://host:port/artifactory
auth = ("admin", "password")
out = {}

# dohq-artifactory
path = ArtifactoryPath(base, auth=auth)
r = path.aql(
    "items.find",
    {"repo": "apps", "name": {"$match": "svc-*"}},
    ".include",
    ["name", "repo", "path", "type", "created"],
    ".sort",
    {"$asc": ["name"]},
)
out["dohq_names"] = [x["name"] for x in r]
out["dohq_paths"] = [str(path.from_aql(x)) for x in r]
out["dohq_keep"] = sorted(x["name"] for x in path.aql("items.find", {"repo": "apps", "@keep": "yes"}))
out["dohq_limit"] = len(path.aql("items.find", {"repo": "apps"}, ".limit", 2))
out["dohq_folders"] = sorted(
    x["name"] for x in path.aql("items.find", {"repo": "apps", "type": "folder", "path": "svc"})
)

# artifactory-cleanup, dry run: `today` in the future makes every file old enough.
session = BaseUrlSession(base)
session.auth = HTTPBasicAuth(*auth)
today = date.today() + timedelta(days=3)
policies = {
    "older-than": [rules.Repo("apps"), rules.DeleteOlderThan(days=1)],
    "older-than-none": [rules.Repo("apps"), rules.DeleteOlderThan(days=7)],
    "keep-latest-2": [rules.Repo("apps"), rules.DeleteOlderThan(days=1), rules.KeepLatestNFiles(2)],
    "property-eq": [rules.Repo("apps"), rules.DeleteOlderThan(days=1), rules.PropertyEq("keep", "yes")],
    "property-neq": [rules.Repo("apps"), rules.DeleteOlderThan(days=1), rules.PropertyNeq("keep", "yes")],
    "without-downloads": [rules.Repo("apps"), rules.DeleteWithoutDownloads()],
    "not-used-since": [rules.RepoList(["apps"]), rules.DeleteNotUsedSince(days=1)],
    "filename": [rules.Repo("apps"), rules.DeleteOlderThan(days=1), rules.IncludeFilename(["svc-1.1*", "t.*"])],
    "exclude-path": [rules.Repo("apps"), rules.DeleteOlderThan(days=1), rules.ExcludePath("svc*")],
}
cleanup = ArtifactoryCleanup(
    session=session,
    policies=[rules.CleanupPolicy(name, *rs) for name, rs in policies.items()],
    destroy=False,
    today=today,
    ignore_not_found=False,
    worker_count=1,
)
removed = {}
for summary in cleanup.cleanup(block_ctx_mgr=noop_block_mgr, test_ctx_mgr=noop_test_mgr):
    if summary is None:
        continue
    removed[summary.policy_name] = sorted(
        f"{a['repo']}/{a['path']}/{a['name']}" for a in summary.removed_artifacts
    )
out["cleanup"] = removed
print("AQL-CLIENTS " + json.dumps(out))
