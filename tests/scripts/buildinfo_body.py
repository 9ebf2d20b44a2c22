"""Prints a build-info body made by the `buildinfo-om` library (JFrog's build-info
object model), so the builds tests publish what a real build-info library writes.

Usage: buildinfo_body.py SPEC_JSON, where SPEC_JSON has name, number, started,
artifacts [{name, path, sha1, sha256, md5}], dependencies [{id, sha1, sha256, md5}],
properties {k: v} and an optional vcs {url, revision, branch}.
"""

import json
import sys

from buildinfo_om import (
    AgentBuilder,
    ArtifactBuilder,
    BuildAgentBuilder,
    BuildInfoBuilder,
    DependencyBuilder,
    ModuleBuilder,
    VCSBuilder,
    transform_to_str,
)

spec = json.loads(sys.argv[1])

artifacts = []
for a in spec.get("artifacts", []):
    b = ArtifactBuilder().with_type(a["name"].rsplit(".", 1)[-1]).with_name(a["name"])
    if a.get("path"):
        b = b.with_path(a["path"])
    for algo in ("sha1", "sha256", "md5"):
        if a.get(algo):
            b = b.with_hash_value(algo, a[algo])
    artifacts.append(b)

dependencies = []
for d in spec.get("dependencies", []):
    b = DependencyBuilder().with_id(d["id"]).with_type("jar").with_scopes("compile")
    for algo in ("sha1", "sha256", "md5"):
        if d.get(algo):
            b = b.with_hash_value(algo, d[algo])
    dependencies.append(b)

module = ModuleBuilder().with_id(spec["name"] + ":module").with_type("generic")
if artifacts:
    module = module.with_artifacts(*artifacts)
if dependencies:
    module = module.with_dependencies(*dependencies)

info = (
    BuildInfoBuilder()
    .with_version("1.0.1")
    .with_name(spec["name"])
    .with_number(spec["number"])
    .with_type("GENERIC")
    .with_started(spec["started"])
    .with_duration_millis(1234)
    .with_principal("ci-bot")
    .with_url("https://ci.example.com/job/1")
    .with_agent(AgentBuilder().with_name("binyard-tests").with_version("1.0"))
    .with_build_agent(BuildAgentBuilder().with_name("GENERIC").with_version("1.0"))
    .with_modules(module)
)
if spec.get("properties"):
    info = info.with_properties(**spec["properties"])
if spec.get("vcs"):
    v = spec["vcs"]
    info = info.with_vcs(VCSBuilder().with_url(v["url"]).with_revision(v["revision"]).with_branch(v.get("branch", "main")))

print(transform_to_str(info.build()))
