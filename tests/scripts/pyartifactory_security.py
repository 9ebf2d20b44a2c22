"""Drives binyard's security API with pyartifactory, an independent Artifactory client.

Usage: python pyartifactory_security.py BASE_URL   (BASE_URL ends in /artifactory)
Exits non-zero (with the failing step) when anything differs from what Artifactory does.
"""

import sys

import requests
from pyartifactory import Artifactory
from pyartifactory.models import Group, NewUser, Permission, PermissionV2
from pyartifactory.models.permission import PrincipalsPermission, PrincipalsPermissionV2, RepoV2

base = sys.argv[1]
art = Artifactory(url=base, auth=("admin", "password"), api_version=1)

# Groups and users (Artifactory's security API).
art.groups.create(Group(name="py-devs", description="from pyartifactory"))
assert art.groups.get("py-devs").description == "from pyartifactory"
assert "py-devs" in [g.name for g in art.groups.list()]
art.users.create(NewUser(name="py-user", email="py@example.com", password="Py-Passw0rd", groups=["py-devs"]))
u = art.users.get("py-user")
assert u.email == "py@example.com", u
assert "py-devs" in (u.groups or []), u
assert "py-user" in [x.name for x in art.users.list()]
assert art.groups.get("py-devs").userNames == ["py-user"]

# Permission targets, v1 and v2 shapes.
art.permissions.create(
    Permission(
        name="py-perm",
        repositories=["py-libs"],
        principals=PrincipalsPermission(users={"py-user": ["r", "w"]}),
    )
)
p = art.permissions.get("py-perm")
assert p.repositories == ["py-libs"], p
assert sorted(p.principals.users["py-user"]) == ["r", "w"], p
art2 = Artifactory(url=base, auth=("admin", "password"), api_version=2)
art2.permissions.create(
    PermissionV2(
        name="py-perm2",
        repo=RepoV2(repositories=["py-libs"], actions=PrincipalsPermissionV2(groups={"py-devs": ["read", "annotate"]})),
    )
)
p2 = art2.permissions.get("py-perm2")
assert p2.repo.actions.groups["py-devs"] == ["annotate", "read"], p2
assert {"py-perm", "py-perm2"} <= {x.name for x in art2.permissions.list()}

# The permissions apply: py-user deploys to py-libs.
r = requests.put(f"{base}/py-libs/a.txt", data=b"hello", auth=("py-user", "Py-Passw0rd"))
assert r.status_code == 201, r.text

# Tokens: created for the user, usable as a bearer token, decoded as a JWT, revoked.
token = art.security.create_access_token(user_name="py-user", expires_in=600, refreshable=True)
assert token.refresh_token and token.token_type == "Bearer", token
as_token = Artifactory(url=base, access_token=token.access_token)
assert as_token.users.get("py-user").name == "py-user"
r = requests.get(f"{base}/py-libs/a.txt", headers={"Authorization": f"Bearer {token.access_token}"})
assert r.status_code == 200 and r.content == b"hello", r.text
assert art.security.revoke_access_token(token.access_token)
r = requests.get(f"{base}/py-libs/a.txt", headers={"Authorization": f"Bearer {token.access_token}"})
assert r.status_code == 401, r.status_code

# API keys of the user.
as_user = Artifactory(url=base, auth=("py-user", "Py-Passw0rd"))
key = as_user.security.create_api_key().apiKey.get_secret_value()
r = requests.get(f"{base}/py-libs/a.txt", headers={"X-JFrog-Art-Api": key})
assert r.status_code == 200, r.text
key2 = as_user.security.regenerate_api_key().apiKey.get_secret_value()
assert key2 != key
as_user.security.revoke_api_key()
r = requests.get(f"{base}/py-libs/a.txt", headers={"X-JFrog-Art-Api": key2})
assert r.status_code == 401, r.status_code

# Clean-up through the same client.
art.permissions.delete("py-perm")
art2.permissions.delete("py-perm2")
art.users.delete("py-user")
art.groups.delete("py-devs")
assert "py-user" not in [x.name for x in art.users.list()]
print("pyartifactory: all security calls behaved")
