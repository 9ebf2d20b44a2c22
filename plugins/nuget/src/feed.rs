//! The read side of the v3 API: service index, flat container, registrations and
//! search, all made from what is stored (answers are cacheable until the
//! repository changes).

use binyard_plugin_sdk::package_type::{Failure, Request, Response, repository};
use binyard_plugin_sdk::time::iso8601;
use serde_json::{Value, json};

use crate::names::Version;
use crate::store::{self, Stored};

/// Versions per registration page; a package with at most `INLINE_MAX` versions
/// has its pages inlined in the registration index.
pub const PAGE_SIZE: usize = 64;
pub const INLINE_MAX: usize = 128;

/// `index.json`: where each resource is (NuGet.exe 5.8 needs a
/// `RegistrationsBaseUrl` of version 3.0.0-rc, -beta or 3.4.0).
pub fn service_index(base: &str) -> Response {
    let mut resources = vec![
        json!({"@id": format!("{base}/package"), "@type": "PackagePublish/2.0.0"}),
        json!({"@id": format!("{base}/flatcontainer/"), "@type": "PackageBaseAddress/3.0.0"}),
    ];
    for t in ["", "/3.0.0-rc", "/3.0.0-beta", "/3.4.0", "/3.6.0"] {
        resources.push(json!({"@id": format!("{base}/registration/"), "@type": format!("RegistrationsBaseUrl{t}")}));
    }
    for t in ["", "/3.0.0-rc", "/3.0.0-beta", "/3.5.0"] {
        resources.push(json!({"@id": format!("{base}/query"), "@type": format!("SearchQueryService{t}")}));
    }
    for t in ["", "/3.0.0-rc", "/3.0.0-beta", "/3.5.0"] {
        resources
            .push(json!({"@id": format!("{base}/autocomplete"), "@type": format!("SearchAutocompleteService{t}")}));
    }
    let doc = json!({"version": "3.0.0", "resources": resources});
    Response::json(200, doc.to_string()).cacheable()
}

fn not_found(id: &str) -> Failure {
    Failure::not_found(format!(
        "Package '{id}' is not in repository '{}'",
        repository::info().key
    ))
}

/// `flatcontainer/{id}/index.json`: every version, lower case, oldest first.
pub fn flat_versions(id: &str) -> Result<Response, Failure> {
    let all = store::versions(id);
    if all.is_empty() {
        return Err(not_found(id));
    }
    let versions: Vec<String> = all.iter().map(|s| s.version.lower()).collect();
    Ok(Response::json(200, json!({"versions": versions}).to_string())
        .cacheable()
        .metadata())
}

/// `flatcontainer/{id}/{version}/{file}`: the `.nupkg` or `.nuspec`.
pub fn flat_file(id: &str, version: &str, file: &str) -> Result<Response, Failure> {
    let v = Version::parse(version).ok_or_else(|| not_found(id))?;
    let s = store::versions(id)
        .into_iter()
        .find(|s| s.version == v)
        .ok_or_else(|| {
            Failure::not_found(format!(
                "{id} {version} is not in repository '{}'",
                repository::info().key
            ))
        })?;
    let lower = id.to_ascii_lowercase();
    let stem = format!("{lower}.{}", v.lower());
    if file.eq_ignore_ascii_case(&format!("{stem}.nupkg")) {
        Ok(Response::artifact(s.nupkg.path.clone()).with_header("content-type", "application/octet-stream"))
    } else if file.eq_ignore_ascii_case(&format!("{lower}.nuspec")) {
        Ok(Response::artifact(s.nuspec_path.clone()).with_header("content-type", "application/xml"))
    } else {
        Err(Failure::not_found(format!(
            "No file '{file}' for {id} {version}: ask for {stem}.nupkg or {lower}.nuspec"
        )))
    }
}

/// URLs of one feed.
pub struct Urls<'a> {
    pub base: &'a str,
}

impl Urls<'_> {
    fn registration(&self) -> String {
        format!("{}/registration/", self.base)
    }
    fn index(&self, lower: &str) -> String {
        format!("{}/registration/{lower}/index.json", self.base)
    }
    fn leaf(&self, lower: &str, v: &Version) -> String {
        format!("{}/registration/{lower}/{}.json", self.base, v.lower())
    }
    fn content(&self, lower: &str, v: &Version) -> String {
        let lv = v.lower();
        format!("{}/flatcontainer/{lower}/{lv}/{lower}.{lv}.nupkg", self.base)
    }
}

/// The time a version was published (unlisted versions get NuGet's 1900 marker).
fn published(s: &Stored) -> String {
    if s.listed {
        iso8601(s.nupkg.created_ms)
    } else {
        "1900-01-01T00:00:00.000Z".into()
    }
}

/// One registration leaf as inlined in a page.
fn leaf_item(u: &Urls, s: &Stored) -> Result<Value, Failure> {
    let n = s.nuspec()?;
    let lower = s.id.to_ascii_lowercase();
    let leaf = u.leaf(&lower, &s.version);
    Ok(json!({
        "@id": leaf,
        "@type": "Package",
        "catalogEntry": {
            "@id": format!("{leaf}#catalogEntry"),
            "@type": "PackageDetails",
            "id": n.id,
            "version": n.version.normalized(),
            "authors": n.authors,
            "description": n.description,
            "title": n.title,
            "summary": n.summary,
            "tags": n.tags,
            "projectUrl": n.project_url,
            "iconUrl": n.icon_url,
            "licenseExpression": n.license_expression,
            "licenseUrl": n.license_url,
            "requireLicenseAcceptance": n.require_license_acceptance,
            "listed": s.listed,
            "published": published(s),
            "packageContent": u.content(&lower, &s.version),
            "dependencyGroups": n.dependency_groups(&u.registration()),
        },
        "packageContent": u.content(&lower, &s.version),
        "registration": u.index(&lower),
    }))
}

/// A page's bounds and its URL.
fn page_id(u: &Urls, lower: &str, chunk: &[Stored]) -> (String, String, String) {
    let lo = chunk.first().map(|s| s.version.lower()).unwrap_or_default();
    let hi = chunk.last().map(|s| s.version.lower()).unwrap_or_default();
    let id = format!("{}/registration/{lower}/page/{lo}/{hi}.json", u.base);
    (id, lo, hi)
}

/// `registration/{id}/index.json`: pages of `PAGE_SIZE` versions, inlined for
/// packages with at most `INLINE_MAX` versions.
pub fn registration_index(req: &Request, id: &str) -> Result<Response, Failure> {
    let all = store::versions(id);
    if all.is_empty() {
        return Err(not_found(id));
    }
    let u = Urls { base: &req.base_url };
    let lower = id.to_ascii_lowercase();
    let inline = all.len() <= INLINE_MAX;
    let mut pages = Vec::new();
    for chunk in all.chunks(PAGE_SIZE) {
        let (page, lo, hi) = page_id(&u, &lower, chunk);
        let mut p = json!({
            "@id": page,
            "@type": "catalog:CatalogPage",
            "count": chunk.len(),
            "lower": lo,
            "upper": hi,
            "parent": u.index(&lower),
        });
        if inline {
            p["items"] = Value::Array(chunk.iter().map(|s| leaf_item(&u, s)).collect::<Result<_, _>>()?);
        }
        pages.push(p);
    }
    let doc = json!({
        "@id": u.index(&lower),
        "@type": ["catalog:CatalogRoot", "PackageRegistration", "catalog:Permalink"],
        "count": pages.len(),
        "items": pages,
    });
    Ok(Response::json(200, doc.to_string()).cacheable().metadata())
}

/// `registration/{id}/page/{lower}/{upper}.json`: the versions in that range.
pub fn registration_page(req: &Request, id: &str, lo: &str, hi: &str) -> Result<Response, Failure> {
    let (lo_v, hi_v) = match (Version::parse(lo), Version::parse(hi)) {
        (Some(a), Some(b)) => (a, b),
        _ => return Err(Failure::not_found(format!("No registration page {lo}..{hi} of {id}"))),
    };
    let all: Vec<Stored> = store::versions(id)
        .into_iter()
        .filter(|s| s.version >= lo_v && s.version <= hi_v)
        .collect();
    if all.is_empty() {
        return Err(Failure::not_found(format!("No registration page {lo}..{hi} of {id}")));
    }
    let u = Urls { base: &req.base_url };
    let lower = id.to_ascii_lowercase();
    let items: Vec<Value> = all.iter().map(|s| leaf_item(&u, s)).collect::<Result<_, _>>()?;
    let doc = json!({
        "@id": format!("{}/registration/{lower}/page/{lo}/{hi}.json", u.base),
        "@type": "catalog:CatalogPage",
        "count": items.len(),
        "lower": lo,
        "upper": hi,
        "parent": u.index(&lower),
        "items": items,
    });
    Ok(Response::json(200, doc.to_string()).cacheable().metadata())
}

/// `registration/{id}/{version}.json`: one version's leaf.
pub fn registration_leaf(req: &Request, id: &str, version: &str) -> Result<Response, Failure> {
    let v = Version::parse(version).ok_or_else(|| not_found(id))?;
    let s = store::versions(id)
        .into_iter()
        .find(|s| s.version == v)
        .ok_or_else(|| {
            Failure::not_found(format!(
                "{id} {version} is not in repository '{}'",
                repository::info().key
            ))
        })?;
    let u = Urls { base: &req.base_url };
    let lower = id.to_ascii_lowercase();
    let leaf = u.leaf(&lower, &s.version);
    let doc = json!({
        "@id": leaf,
        "@type": ["Package", "http://schema.nuget.org/catalog#Permalink"],
        "catalogEntry": format!("{leaf}#catalogEntry"),
        "listed": s.listed,
        "packageContent": u.content(&lower, &s.version),
        "published": published(&s),
        "registration": u.index(&lower),
    });
    Ok(Response::json(200, doc.to_string()).cacheable())
}

/// The search options every search endpoint takes.
struct Query {
    q: String,
    skip: usize,
    take: usize,
    prerelease: bool,
    semver2: bool,
}

fn query_of(req: &Request) -> Query {
    let num = |k: &str, d: usize| req.query_param(k).and_then(|v| v.parse().ok()).unwrap_or(d);
    Query {
        q: req.query_param("q").unwrap_or_default().trim().to_ascii_lowercase(),
        skip: num("skip", 0),
        take: num("take", 20).min(1000),
        prerelease: req
            .query_param("prerelease")
            .is_some_and(|v| v.eq_ignore_ascii_case("true")),
        semver2: req
            .query_param("semVerLevel")
            .is_some_and(|v| v.split('.').next().and_then(|m| m.parse::<u32>().ok()).unwrap_or(0) >= 2),
    }
}

/// The listed versions of a package a query may see.
fn visible(q: &Query, id: &str) -> Vec<Stored> {
    store::versions(id)
        .into_iter()
        .filter(|s| s.listed && (q.prerelease || !s.version.is_prerelease()) && (q.semver2 || !s.version.semver2))
        .collect()
}

/// `query?q=&skip=&take=&prerelease=&semVerLevel=`: packages whose id, title,
/// description or tags contain `q`, by id.
pub fn search(req: &Request) -> Result<Response, Failure> {
    let q = query_of(req);
    let u = Urls { base: &req.base_url };
    let mut hits = Vec::new();
    for folder in store::package_folders() {
        let versions = visible(&q, &folder);
        let Some(latest) = versions.last() else { continue };
        let n = latest.nuspec()?;
        let matches = q.q.is_empty()
            || q.q.split_whitespace().all(|w| {
                let w = w.trim_start_matches("id:");
                n.id.to_ascii_lowercase().contains(w)
                    || n.title.to_ascii_lowercase().contains(w)
                    || n.description.to_ascii_lowercase().contains(w)
                    || n.tags.iter().any(|t| t.to_ascii_lowercase().contains(w))
            });
        if !matches {
            continue;
        }
        let lower = folder.clone();
        hits.push(json!({
            "@id": u.index(&lower),
            "@type": "Package",
            "registration": u.index(&lower),
            "id": n.id,
            "version": n.version.normalized(),
            "description": n.description,
            "summary": n.summary,
            "title": n.title,
            "authors": n.authors.split(',').map(str::trim).filter(|a| !a.is_empty()).collect::<Vec<_>>(),
            "tags": n.tags,
            "projectUrl": n.project_url,
            "iconUrl": n.icon_url,
            "licenseUrl": n.license_url,
            "totalDownloads": 0,
            "verified": false,
            "packageTypes": [{"name": "Dependency"}],
            "versions": versions.iter().map(|s| json!({
                "version": s.version.normalized(),
                "downloads": 0,
                "@id": u.leaf(&lower, &s.version),
            })).collect::<Vec<_>>(),
        }));
    }
    let total = hits.len();
    let data: Vec<Value> = hits.into_iter().skip(q.skip).take(q.take).collect();
    Ok(
        Response::json(200, json!({"totalHits": total, "data": data}).to_string())
            .cacheable()
            .metadata(),
    )
}

/// `autocomplete?q=` (ids starting with or containing `q`) or `autocomplete?id=`
/// (the versions of one package).
pub fn autocomplete(req: &Request) -> Result<Response, Failure> {
    let q = query_of(req);
    let data: Vec<String> = match req.query_param("id") {
        Some(id) => visible(&q, &id).iter().map(|s| s.version.normalized()).collect(),
        None => store::package_folders()
            .into_iter()
            .filter(|f| f.contains(&q.q))
            .filter_map(|f| visible(&q, &f).last().map(|s| s.id.clone()))
            .collect(),
    };
    let total = data.len();
    let data: Vec<String> = data.into_iter().skip(q.skip).take(q.take).collect();
    Ok(
        Response::json(200, json!({"totalHits": total, "data": data}).to_string())
            .cacheable()
            .metadata(),
    )
}
