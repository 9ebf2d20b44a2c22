//! Running a query: the planner picks index lookups for the criteria (the most
//! selective indexed one of an `$and`, the union of an `$or` whose branches are all
//! indexed), every candidate is then checked against the whole expression and the
//! caller's read permission, and rows are sorted and paged. Only a query with no
//! indexed criterion at all reads every item.

use std::cell::OnceCell;
use std::collections::{HashMap, HashSet};
use std::time::Instant;

use super::query::{
    BuildField, Cell, Crit, Domain, Expr, Field, Op, Operand, Query, SortDir, Target, literal_prefix, wildcard,
};
use super::{Access, SearchError};
use crate::builds::model::StoredRun;
use crate::storage::{BuildLookup, Item, Lookup, MetaStore, Stats, TimeField};

/// The record kind build runs are stored under.
const RUN_KIND: &str = crate::builds::model::RUN_KIND;

/// A found item.
#[derive(Debug, Clone)]
pub struct ItemRow {
    pub repo: String,
    /// The full path (no leading slash).
    pub path: String,
    pub item: Item,
    pub stats: Option<Stats>,
}

impl ItemRow {
    /// The parent folder as AQL answers it (`.` at the root).
    pub fn parent(&self) -> &str {
        match self.path.rfind('/') {
            Some(i) => &self.path[..i],
            None => ".",
        }
    }
    pub fn name(&self) -> &str {
        self.path.rsplit('/').next().unwrap_or(&self.path)
    }
}

/// A found build run.
#[derive(Debug, Clone)]
pub struct BuildRow {
    pub name: String,
    pub number: String,
    pub started_ms: i64,
    pub run: Option<StoredRun>,
}

/// The rows of an answer, of the query's domain.
#[derive(Debug)]
pub enum Rows {
    Items(Vec<ItemRow>),
    Builds(Vec<BuildRow>),
}

impl Rows {
    pub fn len(&self) -> usize {
        match self {
            Rows::Items(v) => v.len(),
            Rows::Builds(v) => v.len(),
        }
    }
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Where candidates come from.
#[derive(Debug, Clone, PartialEq)]
enum Source {
    Index(Lookup),
    /// The files a build produced (`dep`: used), by the checksums in its runs.
    Builds {
        dep: bool,
        name: String,
        number: Option<String>,
    },
}

/// A plan: sources to union, and how selective it is thought to be (lower: better).
type Plan = (u8, Vec<Source>);

fn text(c: &Crit) -> Option<&str> {
    match &c.value {
        Operand::Text(t) => Some(t),
        _ => None,
    }
}

/// An exact value an `$eq` or wildcard-free `$match` pins the field to.
fn pinned(c: &Crit) -> Option<&str> {
    match c.op {
        Op::Eq => text(c),
        Op::Match => text(c).filter(|t| literal_prefix(t).len() == t.len()),
        _ => None,
    }
}

fn time_field(f: Field) -> Option<TimeField> {
    match f {
        Field::Created => Some(TimeField::Created),
        Field::Modified | Field::Updated => Some(TimeField::Modified),
        Field::StatDownloaded => Some(TimeField::LastDownloaded),
        _ => None,
    }
}

/// The time range a criterion asks, if it is one.
fn time_range(c: &Crit, now: i64) -> Option<(TimeField, Option<i64>, Option<i64>)> {
    let Target::Field(f) = c.target else { return None };
    let tf = time_field(f)?;
    let (lo, hi) = match (&c.value, c.op) {
        (Operand::Date(d), Op::Eq) => (Some(*d), Some(*d)),
        (Operand::Date(d), Op::Gt) => (d.checked_add(1), None),
        (Operand::Date(d), Op::Gte) => (Some(*d), None),
        (Operand::Date(d), Op::Lt) => (None, d.checked_sub(1)),
        (Operand::Date(d), Op::Lte) => (None, Some(*d)),
        (Operand::Period(p), Op::Last) => (Some(now.saturating_sub(*p)), None),
        (Operand::Period(p), Op::Before) => (None, Some(now.saturating_sub(*p).saturating_sub(1))),
        _ => return None,
    };
    Some((tf, lo, hi))
}

fn crit_plan(c: &Crit, now: i64) -> Option<Plan> {
    if c.op.negative() {
        return None;
    }
    let one = |rank: u8, l: Lookup| Some((rank, vec![Source::Index(l)]));
    match &c.target {
        Target::Field(Field::Name) => {
            let t = text(c)?;
            match c.op {
                Op::Eq => one(
                    1,
                    Lookup::Name {
                        name: t.into(),
                        prefix: false,
                    },
                ),
                Op::Match => {
                    let lit = literal_prefix(t);
                    if lit.len() == t.len() {
                        one(
                            1,
                            Lookup::Name {
                                name: t.into(),
                                prefix: false,
                            },
                        )
                    } else if !lit.is_empty() {
                        one(
                            5,
                            Lookup::Name {
                                name: lit.into(),
                                prefix: true,
                            },
                        )
                    } else {
                        None
                    }
                }
                _ => None,
            }
        }
        Target::Field(Field::Repo) => pinned(c).map(|r| {
            (
                9,
                vec![Source::Index(Lookup::Repo {
                    repo: r.into(),
                    parent: String::new(),
                    exact: false,
                })],
            )
        }),
        Target::Field(Field::Sha256) if c.op == Op::Eq => one(0, Lookup::Sha256(text(c)?.to_ascii_lowercase())),
        Target::Field(Field::ActualSha1) if c.op == Op::Eq => one(0, Lookup::Sha1(text(c)?.to_ascii_lowercase())),
        Target::Field(Field::ActualMd5) if c.op == Op::Eq => one(0, Lookup::Md5(text(c)?.to_ascii_lowercase())),
        Target::Prop(key) if literal_prefix(key).len() == key.len() => {
            let by = |rank, value: Option<&str>, prefix| {
                one(
                    rank,
                    Lookup::Prop {
                        key: key.clone(),
                        value: value.map(str::to_string),
                        prefix,
                    },
                )
            };
            match (&c.value, c.op) {
                (Operand::Null, _) => None,
                (Operand::Text(t), Op::Eq) => by(3, Some(t), false),
                (Operand::Text(t), Op::Match) => {
                    let lit = literal_prefix(t);
                    if lit.len() == t.len() {
                        by(3, Some(t), false)
                    } else if !lit.is_empty() {
                        by(6, Some(lit), true)
                    } else {
                        by(8, None, false)
                    }
                }
                _ => by(8, None, false),
            }
        }
        Target::Field(Field::PropKey) => pinned(c).map(|k| {
            (
                8,
                vec![Source::Index(Lookup::Prop {
                    key: k.into(),
                    value: None,
                    prefix: false,
                })],
            )
        }),
        Target::Field(Field::ArtifactBuild(BuildField::Name) | Field::DependencyBuild(BuildField::Name)) => {
            let dep = matches!(c.target, Target::Field(Field::DependencyBuild(_)));
            pinned(c).map(|n| {
                (
                    2,
                    vec![Source::Builds {
                        dep,
                        name: n.into(),
                        number: None,
                    }],
                )
            })
        }
        _ => time_range(c, now).map(|(field, lo, hi)| {
            (
                10,
                vec![Source::Index(Lookup::Time {
                    field,
                    lo,
                    hi,
                    desc: false,
                })],
            )
        }),
    }
}

/// How many candidates a plan's sources would give, counted up to a cap (the cap
/// when the store cannot tell): the planner's tie-breaker between indexed criteria.
type Estimate<'a> = dyn Fn(&[Source]) -> usize + 'a;

/// Candidates counted at most when plans are compared: exact below it, "many" above.
const ESTIMATE_CAP: usize = 256;

/// The plan of an expression, `None` when it has no indexed access path. Of an
/// `$and`'s plans, the one with the fewest candidates (counted up to
/// `ESTIMATE_CAP`) wins; the static rank decides between plans above the cap.
fn plan(e: &Expr, now: i64, est: &Estimate) -> Option<Plan> {
    match e {
        Expr::Cmp(c) => crit_plan(c, now),
        Expr::Msp(crits) => crits.iter().filter_map(|c| crit_plan(c, now)).min_by_key(|p| p.0),
        Expr::Or(list) => {
            if list.is_empty() {
                return None;
            }
            let mut rank = 0;
            let mut all = Vec::new();
            for e in list {
                let (r, mut s) = plan(e, now, est)?;
                rank = rank.max(r);
                all.append(&mut s);
            }
            all.dedup();
            Some((rank, all))
        }
        Expr::And(list) => {
            let crits: Vec<&Crit> = list
                .iter()
                .filter_map(|e| match e {
                    Expr::Cmp(c) => Some(c),
                    _ => None,
                })
                .collect();
            let mut candidates: Vec<Plan> = list.iter().filter_map(|e| plan(e, now, est)).collect();
            let mut consider = |p: Plan| candidates.push(p);
            // A repository with a path: one range of the item table.
            let repo = crits
                .iter()
                .find(|c| c.target == Target::Field(Field::Repo))
                .and_then(|c| pinned(c));
            if let Some(repo) = repo {
                for c in crits.iter().filter(|c| c.target == Target::Field(Field::Path)) {
                    let Some(t) = text(c).filter(|_| matches!(c.op, Op::Eq | Op::Match)) else {
                        continue;
                    };
                    let lit = if c.op == Op::Eq { t } else { literal_prefix(t) };
                    let exact = lit.len() == t.len();
                    let parent = if exact && lit == "." { "" } else { lit };
                    consider((
                        if exact { 4 } else { 7 },
                        vec![Source::Index(Lookup::Repo {
                            repo: repo.into(),
                            parent: parent.into(),
                            exact,
                        })],
                    ));
                }
            }
            // A build name with its number.
            for dep in [false, true] {
                let name_f = |b| {
                    if dep {
                        Field::DependencyBuild(b)
                    } else {
                        Field::ArtifactBuild(b)
                    }
                };
                let name = crits
                    .iter()
                    .find(|c| c.target == Target::Field(name_f(BuildField::Name)))
                    .and_then(|c| pinned(c));
                let number = crits
                    .iter()
                    .find(|c| c.target == Target::Field(name_f(BuildField::Number)))
                    .and_then(|c| pinned(c));
                if let (Some(n), Some(num)) = (name, number) {
                    consider((
                        2,
                        vec![Source::Builds {
                            dep,
                            name: n.into(),
                            number: Some(num.into()),
                        }],
                    ));
                }
            }
            // Two bounds of one time field: one range.
            let mut ranges: Vec<(TimeField, Option<i64>, Option<i64>)> = Vec::new();
            for c in &crits {
                if let Some((f, lo, hi)) = time_range(c, now) {
                    match ranges.iter_mut().find(|r| r.0 == f) {
                        Some(r) => {
                            r.1 = r.1.max(lo).or(lo).or(r.1);
                            r.2 = match (r.2, hi) {
                                (Some(a), Some(b)) => Some(a.min(b)),
                                (a, b) => a.or(b),
                            };
                        }
                        None => ranges.push((f, lo, hi)),
                    }
                }
            }
            for (field, lo, hi) in ranges {
                consider((
                    if lo.is_some() && hi.is_some() { 9 } else { 10 },
                    vec![Source::Index(Lookup::Time {
                        field,
                        lo,
                        hi,
                        desc: false,
                    })],
                ));
            }
            if candidates.len() > 1 {
                candidates.into_iter().min_by_key(|p| (est(&p.1), p.0))
            } else {
                candidates.pop()
            }
        }
    }
}

/// The context one candidate item is judged in (statistics and builds read once, when asked).
struct ItemCtx<'a> {
    repo: &'a str,
    path: &'a str,
    item: &'a Item,
    meta: &'a dyn MetaStore,
    access: &'a dyn Access,
    stats: OnceCell<Stats>,
    /// Runs that produced (0) and used (1) the item: (name, number, started, run).
    runs: [OnceCell<Vec<BuildRow>>; 2],
}

impl ItemCtx<'_> {
    fn stats(&self) -> &Stats {
        self.stats.get_or_init(|| self.access.stats(self.repo, self.path))
    }

    fn runs(&self, dep: bool) -> &Vec<BuildRow> {
        self.runs[dep as usize].get_or_init(|| {
            let Some(b) = &self.item.blob else { return Vec::new() };
            let mut keys = Vec::new();
            for sum in [&b.sha1, &b.sha256, &b.md5] {
                let l = if dep {
                    BuildLookup::Dependency(sum.clone())
                } else {
                    BuildLookup::Artifact(sum.clone())
                };
                let _ = self.meta.build_lookup(&l, &mut |k| {
                    if !keys.iter().any(|x: &String| x == k) {
                        keys.push(k.to_string());
                    }
                    true
                });
            }
            keys.iter()
                .filter_map(|k| build_row(self.meta, k))
                .filter(|r| self.access.can_read_build(&r.name))
                .collect()
        })
    }

    fn cell(&self, f: Field) -> Option<Cell> {
        let i = self.item;
        let blob = i.blob.as_ref();
        let name = self.path.rsplit('/').next().unwrap_or(self.path);
        let parent = self.path.rfind('/').map_or(".", |x| &self.path[..x]);
        let s = |v: &str| Some(Cell::Text(v.to_string()));
        match f {
            Field::Repo => s(self.repo),
            Field::Path => s(parent),
            Field::Name => s(name),
            Field::Type => s(if i.folder { "folder" } else { "file" }),
            Field::Size => Some(Cell::Num(i.size() as i64)),
            Field::Depth => Some(Cell::Num(self.path.split('/').count() as i64)),
            Field::Created => Some(Cell::Date(i.created)),
            Field::CreatedBy => s(&i.created_by),
            Field::Modified | Field::Updated => Some(Cell::Date(i.modified)),
            Field::ModifiedBy => s(&i.modified_by),
            Field::ActualMd5 => blob.and_then(|b| s(&b.md5)),
            Field::ActualSha1 => blob.and_then(|b| s(&b.sha1)),
            Field::Sha256 => blob.and_then(|b| s(&b.sha256)),
            Field::OriginalMd5 => i.original.md5.as_deref().or(blob.map(|b| b.md5.as_str())).and_then(s),
            Field::OriginalSha1 => i.original.sha1.as_deref().or(blob.map(|b| b.sha1.as_str())).and_then(s),
            Field::StatDownloads => Some(self.stats().downloads)
                .filter(|d| *d > 0)
                .map(|d| Cell::Num(d as i64)),
            Field::StatDownloaded => Some(self.stats())
                .filter(|s| s.downloads > 0)
                .map(|s| Cell::Date(s.last_downloaded)),
            Field::StatDownloadedBy => Some(self.stats())
                .filter(|s| s.downloads > 0)
                .map(|s| Cell::Text(s.last_downloaded_by.clone())),
            _ => None,
        }
    }
}

/// Decides a set-valued criterion: positive operators need one value that passes,
/// negative ones that none passes the positive form.
fn any_value<'v>(c: &Crit, values: impl Iterator<Item = &'v str>, now: i64) -> bool {
    if c.value == Operand::Null {
        let present = values.count() > 0;
        return if c.op == Op::Eq { !present } else { present };
    }
    let positive = Crit {
        op: match c.op {
            Op::Ne => Op::Eq,
            Op::NMatch => Op::Match,
            o => o,
        },
        ..c.clone()
    };
    let hit = values
        .into_iter()
        .any(|v| positive.test(Some(&Cell::Text(v.to_string())), now));
    if c.op.negative() { !hit } else { hit }
}

/// One property row `(key, value)` against a criterion of `$msp`.
fn prop_row(c: &Crit, key: &str, value: &str, now: i64) -> bool {
    match &c.target {
        Target::Prop(k) => wildcard(k, key) && c.test(Some(&Cell::Text(value.to_string())), now),
        Target::Field(Field::PropKey) => c.test(Some(&Cell::Text(key.to_string())), now),
        Target::Field(Field::PropValue) => c.test(Some(&Cell::Text(value.to_string())), now),
        _ => false,
    }
}

fn prop_rows(i: &Item) -> impl Iterator<Item = (&str, &str)> {
    i.props.iter().flat_map(|(k, vs)| {
        let vs: Vec<&str> = if vs.is_empty() {
            vec![""]
        } else {
            vs.iter().map(String::as_str).collect()
        };
        vs.into_iter().map(move |v| (k.as_str(), v))
    })
}

fn eval_item(e: &Expr, cx: &ItemCtx, now: i64) -> bool {
    match e {
        Expr::And(l) => l.iter().all(|e| eval_item(e, cx, now)),
        Expr::Or(l) => l.is_empty() || l.iter().any(|e| eval_item(e, cx, now)),
        Expr::Msp(crits) => prop_rows(cx.item).any(|(k, v)| crits.iter().all(|c| prop_row(c, k, v, now))),
        Expr::Cmp(c) => match &c.target {
            Target::Prop(key) => {
                let values = prop_rows(cx.item).filter(|(k, _)| wildcard(key, k)).map(|(_, v)| v);
                any_value(c, values, now)
            }
            Target::Field(Field::PropKey) => any_value(c, cx.item.props.keys().map(String::as_str), now),
            Target::Field(Field::PropValue) => any_value(c, prop_rows(cx.item).map(|(_, v)| v), now),
            Target::Field(Field::Type) => {
                let t = text(c).unwrap_or("");
                let is = t == "any" || (t == "folder") == cx.item.folder;
                if c.op.negative() { !is } else { is }
            }
            Target::Field(f @ (Field::ArtifactBuild(b) | Field::DependencyBuild(b))) => {
                let runs = cx.runs(matches!(f, Field::DependencyBuild(_)));
                let positive = Crit {
                    op: match c.op {
                        Op::Ne => Op::Eq,
                        Op::NMatch => Op::Match,
                        o => o,
                    },
                    ..c.clone()
                };
                let hit = runs.iter().any(|r| positive.test(build_cell(r, *b).as_ref(), now));
                if c.op.negative() { !hit } else { hit }
            }
            Target::Field(f) => c.test(cx.cell(*f).as_ref(), now),
        },
    }
}

/// A run's key parts: name, number, start (ms).
fn split_run_key(k: &str) -> Option<(&str, &str, i64)> {
    let mut it = k.rsplitn(3, '\0');
    let ts = it.next()?.parse().ok()?;
    let number = it.next()?;
    let name = it.next()?;
    Some((name, number, ts))
}

fn build_row(meta: &dyn MetaStore, key: &str) -> Option<BuildRow> {
    let (name, number, started_ms) = split_run_key(key)?;
    let run = meta
        .record(RUN_KIND, key)
        .ok()
        .flatten()
        .and_then(|raw| serde_json::from_slice(&raw).ok());
    Some(BuildRow {
        name: name.into(),
        number: number.into(),
        started_ms,
        run,
    })
}

pub fn build_cell(r: &BuildRow, f: BuildField) -> Option<Cell> {
    let body = r.run.as_ref().map(|r| &r.build_info);
    match f {
        BuildField::Name => Some(Cell::Text(r.name.clone())),
        BuildField::Number => Some(Cell::Text(r.number.clone())),
        BuildField::Started => Some(Cell::Date(r.started_ms)),
        BuildField::Created | BuildField::Modified => r.run.as_ref().map(|r| Cell::Date(r.published_at)),
        BuildField::CreatedBy | BuildField::ModifiedBy => r.run.as_ref().map(|r| Cell::Text(r.published_by.clone())),
        BuildField::Url => body
            .and_then(|b| b["url"].as_str().or(b["buildUrl"].as_str()))
            .map(|u| Cell::Text(u.to_string())),
    }
}

fn build_props(r: &BuildRow) -> Vec<(String, String)> {
    let Some(run) = &r.run else { return Vec::new() };
    run.build_info["properties"]
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| (k.clone(), v.as_str().map_or_else(|| v.to_string(), str::to_string)))
                .collect()
        })
        .unwrap_or_default()
}

fn eval_build(e: &Expr, r: &BuildRow, now: i64) -> bool {
    match e {
        Expr::And(l) => l.iter().all(|e| eval_build(e, r, now)),
        Expr::Or(l) => l.is_empty() || l.iter().any(|e| eval_build(e, r, now)),
        Expr::Msp(crits) => build_props(r).iter().any(|(k, v)| {
            crits.iter().all(|c| match &c.target {
                Target::Prop(key) => wildcard(key, k) && c.test(Some(&Cell::Text(v.clone())), now),
                _ => false,
            })
        }),
        Expr::Cmp(c) => match &c.target {
            Target::Prop(key) => {
                let props = build_props(r);
                any_value(
                    c,
                    props.iter().filter(|(k, _)| wildcard(key, k)).map(|(_, v)| v.as_str()),
                    now,
                )
            }
            Target::Field(Field::BuildPropKey) => {
                let props = build_props(r);
                any_value(c, props.iter().map(|(k, _)| k.as_str()), now)
            }
            Target::Field(Field::BuildPropValue) => {
                let props = build_props(r);
                any_value(c, props.iter().map(|(_, v)| v.as_str()), now)
            }
            Target::Field(Field::Build(b)) => c.test(build_cell(r, *b).as_ref(), now),
            Target::Field(_) => false,
        },
    }
}

/// Runs queries against one metadata store.
pub struct Engine<'a> {
    pub meta: &'a dyn MetaStore,
    pub access: &'a dyn Access,
    pub deadline: Instant,
    /// The most rows one answer may have.
    pub cap: u64,
    pub now: i64,
}

fn item_sort_cell(r: &ItemRow, f: Field) -> Option<Cell> {
    let i = &r.item;
    Some(match f {
        Field::Repo => Cell::Text(r.repo.clone()),
        Field::Path => Cell::Text(r.parent().to_string()),
        Field::Name => Cell::Text(r.name().to_string()),
        Field::Type => Cell::Text(if i.folder { "folder" } else { "file" }.into()),
        Field::Size => Cell::Num(i.size() as i64),
        Field::Depth => Cell::Num(r.path.split('/').count() as i64),
        Field::Created => Cell::Date(i.created),
        Field::CreatedBy => Cell::Text(i.created_by.clone()),
        Field::Modified | Field::Updated => Cell::Date(i.modified),
        Field::ModifiedBy => Cell::Text(i.modified_by.clone()),
        Field::ActualMd5 => Cell::Text(i.blob.as_ref()?.md5.clone()),
        Field::ActualSha1 | Field::OriginalSha1 => Cell::Text(i.blob.as_ref()?.sha1.clone()),
        Field::Sha256 => Cell::Text(i.blob.as_ref()?.sha256.clone()),
        Field::OriginalMd5 => Cell::Text(i.blob.as_ref()?.md5.clone()),
        Field::StatDownloads => Cell::Num(r.stats.as_ref()?.downloads as i64),
        Field::StatDownloaded => Cell::Date(r.stats.as_ref()?.last_downloaded),
        _ => return None,
    })
}

fn cmp_cells(a: Option<Cell>, b: Option<Cell>) -> std::cmp::Ordering {
    use std::cmp::Ordering;
    match (a, b) {
        (None, None) => Ordering::Equal,
        (None, _) => Ordering::Less,
        (_, None) => Ordering::Greater,
        (Some(Cell::Num(x)), Some(Cell::Num(y))) | (Some(Cell::Date(x)), Some(Cell::Date(y))) => x.cmp(&y),
        (Some(x), Some(y)) => x.text().cmp(&y.text()),
    }
}

impl Engine<'_> {
    fn timed_out(&self) -> bool {
        Instant::now() > self.deadline
    }

    /// The rows of a query's page (offset, limit and the cap applied).
    pub fn run(&self, q: &Query) -> Result<Rows, SearchError> {
        match q.domain {
            Domain::Items => self.items(q).map(Rows::Items),
            Domain::Builds => self.builds(q).map(Rows::Builds),
            Domain::Entries => Err(SearchError::Unsupported(
                "The entries domain (files inside archives) is not searchable: binyard does not index archive contents"
                    .into(),
            )),
        }
    }

    fn page_len(&self, q: &Query) -> u64 {
        q.limit.unwrap_or(self.cap).min(self.cap)
    }

    fn items(&self, q: &Query) -> Result<Vec<ItemRow>, SearchError> {
        // Artifactory's items domain answers files unless a criterion names the type.
        let expr = if q.expr.mentions(Field::Type) {
            q.expr.clone()
        } else {
            Expr::And(vec![
                q.expr.clone(),
                Expr::Cmp(Crit {
                    target: Target::Field(Field::Type),
                    op: Op::Eq,
                    value: Operand::Text("file".into()),
                }),
            ])
        };
        let est = |sources: &[Source]| {
            sources
                .iter()
                .map(|s| match s {
                    Source::Index(l) => self
                        .meta
                        .count_upto(l, ESTIMATE_CAP)
                        .ok()
                        .flatten()
                        .unwrap_or(ESTIMATE_CAP),
                    Source::Builds { .. } => ESTIMATE_CAP,
                })
                .fold(0usize, usize::saturating_add)
                .min(ESTIMATE_CAP)
        };
        let mut sources = match plan(&expr, self.now, &est) {
            Some((_, s)) => s,
            None => vec![Source::Index(Lookup::All)],
        };
        // A single time range read in the order asked needs no sort and may stop early.
        let mut presorted = q.sort.is_empty();
        if let ([Source::Index(Lookup::Time { field, desc, .. })], [(f, dir)]) =
            (sources.as_mut_slice(), q.sort.as_slice())
            && time_field(*f) == Some(*field)
            && !matches!(f, Field::Updated | Field::StatDownloaded)
        {
            *desc = *dir == SortDir::Desc;
            presorted = true;
        }
        let want = self.page_len(q).saturating_add(q.offset);
        let stop_at = if presorted { Some(want) } else { None };
        let dedupe = sources.len() > 1 || sources.iter().any(|s| matches!(s, Source::Builds { .. }));
        let mut seen: HashSet<(String, String)> = HashSet::new();
        // Read permission per repository, when paths do not decide it.
        let mut repo_read: HashMap<String, Option<bool>> = HashMap::new();
        let mut readable = |repo: &str, path: &str| {
            let whole = match repo_read.get(repo) {
                Some(d) => *d,
                None => {
                    let d = self.access.can_read_repo(repo);
                    repo_read.insert(repo.to_string(), d);
                    d
                }
            };
            whole.unwrap_or_else(|| self.access.can_read(repo, path))
        };
        // Items answer files unless the query names a type: folders are then passed
        // over by the store before they are decoded.
        let files_only = !q.expr.mentions(Field::Type);
        let mut out: Vec<ItemRow> = Vec::new();
        let mut timed_out = false;
        let mut visited = 0u64;
        let needs_stats = q.shape()?.stats
            || q.sort
                .iter()
                .any(|(f, _)| matches!(f, Field::StatDownloads | Field::StatDownloaded));
        'sources: for src in &sources {
            for l in self.lookups(src)? {
                let mut visit = |repo: &str, path: &str, item: Item| {
                    visited += 1;
                    if visited.is_multiple_of(256) && self.timed_out() {
                        timed_out = true;
                        return false;
                    }
                    if dedupe && !seen.insert((repo.to_string(), path.to_string())) {
                        return true;
                    }
                    let cx = ItemCtx {
                        repo,
                        path,
                        item: &item,
                        meta: self.meta,
                        access: self.access,
                        stats: OnceCell::new(),
                        runs: [OnceCell::new(), OnceCell::new()],
                    };
                    if !readable(repo, path) || !eval_item(&expr, &cx, self.now) {
                        return true;
                    }
                    let stats = if needs_stats {
                        Some(cx.stats().clone())
                    } else {
                        cx.stats.get().cloned()
                    };
                    out.push(ItemRow {
                        repo: repo.to_string(),
                        path: path.to_string(),
                        item,
                        stats,
                    });
                    stop_at.is_none_or(|n| (out.len() as u64) < n)
                };
                if files_only {
                    self.meta.lookup_files(&l, &mut visit)?;
                } else {
                    self.meta.lookup(&l, &mut visit)?;
                }
                if timed_out {
                    return Err(SearchError::Timeout);
                }
                if stop_at.is_some_and(|n| out.len() as u64 >= n) {
                    break 'sources;
                }
            }
        }
        if !q.sort.is_empty() && !presorted {
            out.sort_by(|a, b| {
                for (f, dir) in &q.sort {
                    let o = cmp_cells(item_sort_cell(a, *f), item_sort_cell(b, *f));
                    let o = if *dir == SortDir::Desc { o.reverse() } else { o };
                    if o.is_ne() {
                        return o;
                    }
                }
                std::cmp::Ordering::Equal
            });
        }
        Ok(page(out, q.offset, self.page_len(q)))
    }

    /// The index lookups of a source (a build's files: by the checksums its runs list).
    fn lookups(&self, src: &Source) -> Result<Vec<Lookup>, SearchError> {
        match src {
            Source::Index(l) => Ok(vec![l.clone()]),
            Source::Builds { dep, name, number } => {
                let mut keys = Vec::new();
                self.meta.build_lookup(&BuildLookup::Name(name.clone()), &mut |k| {
                    keys.push(k.to_string());
                    true
                })?;
                let mut out = Vec::new();
                if !self.access.can_read_build(name) {
                    return Ok(out);
                }
                for k in keys {
                    let Some(row) = build_row(self.meta, &k) else { continue };
                    if number.as_ref().is_some_and(|n| *n != row.number) {
                        continue;
                    }
                    let Some(run) = &row.run else { continue };
                    for m in run.build_info["modules"].as_array().into_iter().flatten() {
                        let list = if *dep { &m["dependencies"] } else { &m["artifacts"] };
                        for f in list.as_array().into_iter().flatten() {
                            let l = if let Some(s) = f["sha1"].as_str().filter(|s| !s.is_empty()) {
                                Lookup::Sha1(s.to_ascii_lowercase())
                            } else if let Some(s) = f["sha256"].as_str().filter(|s| !s.is_empty()) {
                                Lookup::Sha256(s.to_ascii_lowercase())
                            } else if let Some(s) = f["md5"].as_str().filter(|s| !s.is_empty()) {
                                Lookup::Md5(s.to_ascii_lowercase())
                            } else {
                                continue;
                            };
                            if !out.contains(&l) {
                                out.push(l);
                            }
                        }
                    }
                }
                Ok(out)
            }
        }
    }

    fn builds(&self, q: &Query) -> Result<Vec<BuildRow>, SearchError> {
        let lookup = build_plan(&q.expr, self.now).unwrap_or(BuildLookup::All);
        let mut keys = Vec::new();
        let mut timed_out = false;
        self.meta.build_lookup(&lookup, &mut |k| {
            if keys.len() % 256 == 255 && self.timed_out() {
                timed_out = true;
                return false;
            }
            keys.push(k.to_string());
            true
        })?;
        if timed_out {
            return Err(SearchError::Timeout);
        }
        let mut out = Vec::new();
        for (n, k) in keys.iter().enumerate() {
            if n % 256 == 255 && self.timed_out() {
                return Err(SearchError::Timeout);
            }
            let Some((name, _, _)) = split_run_key(k) else { continue };
            if !self.access.can_read_build(name) {
                continue;
            }
            let Some(row) = build_row(self.meta, k) else { continue };
            if eval_build(&q.expr, &row, self.now) {
                out.push(row);
            }
        }
        if !q.sort.is_empty() {
            out.sort_by(|a, b| {
                for (f, dir) in &q.sort {
                    let Field::Build(bf) = f else { continue };
                    let o = cmp_cells(build_cell(a, *bf), build_cell(b, *bf));
                    let o = if *dir == SortDir::Desc { o.reverse() } else { o };
                    if o.is_ne() {
                        return o;
                    }
                }
                std::cmp::Ordering::Equal
            });
        }
        Ok(page(out, q.offset, self.page_len(q)))
    }
}

/// The builds index a query can use: a pinned name, or a start-time range.
fn build_plan(e: &Expr, now: i64) -> Option<BuildLookup> {
    let from_crit = |c: &Crit| -> Option<BuildLookup> {
        if c.op.negative() {
            return None;
        }
        match c.target {
            Target::Field(Field::Build(BuildField::Name)) => pinned(c).map(|n| BuildLookup::Name(n.into())),
            Target::Field(Field::Build(BuildField::Started)) => {
                let (lo, hi) = match (&c.value, c.op) {
                    (Operand::Date(d), Op::Eq) => (Some(*d), Some(*d)),
                    (Operand::Date(d), Op::Gt) => (d.checked_add(1), None),
                    (Operand::Date(d), Op::Gte) => (Some(*d), None),
                    (Operand::Date(d), Op::Lt) => (None, d.checked_sub(1)),
                    (Operand::Date(d), Op::Lte) => (None, Some(*d)),
                    (Operand::Period(p), Op::Last) => (Some(now - p), None),
                    (Operand::Period(p), Op::Before) => (None, Some(now - p - 1)),
                    _ => return None,
                };
                Some(BuildLookup::Started { lo, hi, desc: false })
            }
            _ => None,
        }
    };
    match e {
        Expr::Cmp(c) => from_crit(c),
        Expr::And(l) => {
            let found: Vec<BuildLookup> = l.iter().filter_map(|e| build_plan(e, now)).collect();
            found
                .iter()
                .find(|l| matches!(l, BuildLookup::Name(_)))
                .or(found.first())
                .cloned()
        }
        _ => None,
    }
}

fn page<T>(mut rows: Vec<T>, offset: u64, len: u64) -> Vec<T> {
    let start = (offset as usize).min(rows.len());
    rows.drain(..start);
    rows.truncate(len as usize);
    rows
}
