//! What a query asks, independent of how it was written (AQL or a quick search):
//! domain, criteria, fields, order and page; and how one criterion is decided.

use super::SearchError;
use super::dates;

/// The domain a query returns rows of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Domain {
    Items,
    Builds,
    Entries,
}

impl Domain {
    pub fn name(self) -> &'static str {
        match self {
            Domain::Items => "items",
            Domain::Builds => "builds",
            Domain::Entries => "entries",
        }
    }
}

/// The fields of a build run (the builds domain, and builds related to items).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BuildField {
    Name,
    Number,
    Started,
    Created,
    CreatedBy,
    Modified,
    ModifiedBy,
    Url,
}

impl BuildField {
    fn parse(s: &str) -> Option<BuildField> {
        Some(match s {
            "name" => BuildField::Name,
            "number" => BuildField::Number,
            "started" => BuildField::Started,
            "created" => BuildField::Created,
            "created_by" => BuildField::CreatedBy,
            "modified" => BuildField::Modified,
            "modified_by" => BuildField::ModifiedBy,
            "url" => BuildField::Url,
            _ => return None,
        })
    }

    pub fn name(self) -> &'static str {
        match self {
            BuildField::Name => "name",
            BuildField::Number => "number",
            BuildField::Started => "started",
            BuildField::Created => "created",
            BuildField::CreatedBy => "created_by",
            BuildField::Modified => "modified",
            BuildField::ModifiedBy => "modified_by",
            BuildField::Url => "url",
        }
    }

    pub fn kind(self) -> Kind {
        match self {
            BuildField::Started | BuildField::Created | BuildField::Modified => Kind::Date,
            _ => Kind::Text,
        }
    }
}

/// A field a criterion, sort or include names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Field {
    Repo,
    Path,
    Name,
    Type,
    Size,
    Depth,
    Created,
    CreatedBy,
    Modified,
    ModifiedBy,
    Updated,
    ActualMd5,
    ActualSha1,
    OriginalMd5,
    OriginalSha1,
    Sha256,
    StatDownloads,
    StatDownloaded,
    StatDownloadedBy,
    StatRemoteDownloads,
    StatRemoteDownloaded,
    PropKey,
    PropValue,
    /// A build that produced the item (`artifact.module.build.*`).
    ArtifactBuild(BuildField),
    /// A build that used the item (`dependency.module.build.*`).
    DependencyBuild(BuildField),
    /// A field of a run in the builds domain.
    Build(BuildField),
    /// Build properties (`build.property.key|value`).
    BuildPropKey,
    BuildPropValue,
}

/// How a field's values compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Text,
    Number,
    Date,
    /// `type`: file, folder or any.
    ItemType,
}

/// Every item field `"*"` includes, in Artifactory's order.
pub const ITEM_FIELDS: [Field; 16] = [
    Field::Repo,
    Field::Path,
    Field::Name,
    Field::Type,
    Field::Size,
    Field::Depth,
    Field::Created,
    Field::CreatedBy,
    Field::Modified,
    Field::ModifiedBy,
    Field::Updated,
    Field::ActualMd5,
    Field::ActualSha1,
    Field::OriginalMd5,
    Field::OriginalSha1,
    Field::Sha256,
];

/// The item fields answered when the query includes none.
pub const ITEM_DEFAULT: [Field; 10] = [
    Field::Repo,
    Field::Path,
    Field::Name,
    Field::Type,
    Field::Size,
    Field::Created,
    Field::CreatedBy,
    Field::Modified,
    Field::ModifiedBy,
    Field::Updated,
];

pub const BUILD_FIELDS: [BuildField; 8] = [
    BuildField::Name,
    BuildField::Number,
    BuildField::Started,
    BuildField::Created,
    BuildField::CreatedBy,
    BuildField::Modified,
    BuildField::ModifiedBy,
    BuildField::Url,
];

impl Field {
    /// The field a name means in a domain (`item.name` and `name` alike in items).
    pub fn parse(domain: Domain, s: &str) -> Option<Field> {
        match domain {
            Domain::Items | Domain::Entries => {
                let s = s.strip_prefix("item.").unwrap_or(s);
                Some(match s {
                    "repo" => Field::Repo,
                    "path" => Field::Path,
                    "name" => Field::Name,
                    "type" => Field::Type,
                    "size" => Field::Size,
                    "depth" => Field::Depth,
                    "created" => Field::Created,
                    "created_by" => Field::CreatedBy,
                    "modified" => Field::Modified,
                    "modified_by" => Field::ModifiedBy,
                    "updated" => Field::Updated,
                    "actual_md5" => Field::ActualMd5,
                    "actual_sha1" => Field::ActualSha1,
                    "original_md5" => Field::OriginalMd5,
                    "original_sha1" => Field::OriginalSha1,
                    "sha256" => Field::Sha256,
                    "stat.downloads" => Field::StatDownloads,
                    "stat.downloaded" => Field::StatDownloaded,
                    "stat.downloaded_by" => Field::StatDownloadedBy,
                    "stat.remote_downloads" => Field::StatRemoteDownloads,
                    "stat.remote_downloaded" => Field::StatRemoteDownloaded,
                    "property.key" => Field::PropKey,
                    "property.value" => Field::PropValue,
                    _ => {
                        if let Some(b) = s.strip_prefix("artifact.module.build.") {
                            Field::ArtifactBuild(BuildField::parse(b)?)
                        } else if let Some(b) = s.strip_prefix("dependency.module.build.") {
                            Field::DependencyBuild(BuildField::parse(b)?)
                        } else {
                            return None;
                        }
                    }
                })
            }
            Domain::Builds => {
                let s = s.strip_prefix("build.").unwrap_or(s);
                match s {
                    "property.key" => Some(Field::BuildPropKey),
                    "property.value" => Some(Field::BuildPropValue),
                    _ => BuildField::parse(s).map(Field::Build),
                }
            }
        }
    }

    pub fn kind(self) -> Kind {
        match self {
            Field::Size | Field::Depth | Field::StatDownloads | Field::StatRemoteDownloads => Kind::Number,
            Field::Created | Field::Modified | Field::Updated | Field::StatDownloaded | Field::StatRemoteDownloaded => {
                Kind::Date
            }
            Field::Type => Kind::ItemType,
            Field::ArtifactBuild(b) | Field::DependencyBuild(b) | Field::Build(b) => b.kind(),
            _ => Kind::Text,
        }
    }

    /// The name answers use.
    pub fn name(self) -> String {
        match self {
            Field::Repo => "repo".into(),
            Field::Path => "path".into(),
            Field::Name => "name".into(),
            Field::Type => "type".into(),
            Field::Size => "size".into(),
            Field::Depth => "depth".into(),
            Field::Created => "created".into(),
            Field::CreatedBy => "created_by".into(),
            Field::Modified => "modified".into(),
            Field::ModifiedBy => "modified_by".into(),
            Field::Updated => "updated".into(),
            Field::ActualMd5 => "actual_md5".into(),
            Field::ActualSha1 => "actual_sha1".into(),
            Field::OriginalMd5 => "original_md5".into(),
            Field::OriginalSha1 => "original_sha1".into(),
            Field::Sha256 => "sha256".into(),
            Field::StatDownloads => "downloads".into(),
            Field::StatDownloaded => "downloaded".into(),
            Field::StatDownloadedBy => "downloaded_by".into(),
            Field::StatRemoteDownloads => "remote_downloads".into(),
            Field::StatRemoteDownloaded => "remote_downloaded".into(),
            Field::PropKey => "key".into(),
            Field::PropValue => "value".into(),
            Field::ArtifactBuild(b) | Field::DependencyBuild(b) => format!("build.{}", b.name()),
            Field::Build(b) => format!("build.{}", b.name()),
            Field::BuildPropKey => "build.property.key".into(),
            Field::BuildPropValue => "build.property.value".into(),
        }
    }
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Ne,
    Gt,
    Gte,
    Lt,
    Lte,
    Match,
    NMatch,
    /// Within the last period (`"3d"`).
    Last,
    /// Before the last period.
    Before,
}

impl Op {
    pub fn parse(s: &str) -> Option<Op> {
        Some(match s {
            "$eq" => Op::Eq,
            "$ne" => Op::Ne,
            "$gt" => Op::Gt,
            "$gte" => Op::Gte,
            "$lt" => Op::Lt,
            "$lte" => Op::Lte,
            "$match" => Op::Match,
            "$nmatch" => Op::NMatch,
            "$last" => Op::Last,
            "$before" => Op::Before,
            _ => return None,
        })
    }

    /// Whether the operator asks for the absence of what it names.
    pub fn negative(self) -> bool {
        matches!(self, Op::Ne | Op::NMatch)
    }
}

/// A criterion's value as written.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Num(f64),
    Str(String),
}

/// A value ready to compare with a field of its kind.
#[derive(Debug, Clone, PartialEq)]
pub enum Operand {
    Null,
    Text(String),
    Number(f64),
    /// Milliseconds since the epoch.
    Date(i64),
    /// `$last`/`$before`: a period in milliseconds, measured from the query's start.
    Period(i64),
}

/// What a criterion is about.
#[derive(Debug, Clone, PartialEq)]
pub enum Target {
    Field(Field),
    /// A property `"@key"` (the key may have wildcards).
    Prop(String),
}

/// One comparison.
#[derive(Debug, Clone, PartialEq)]
pub struct Crit {
    pub target: Target,
    pub op: Op,
    pub value: Operand,
}

impl Crit {
    /// Checks the value against the field's kind; the error names the field.
    pub fn new(target: Target, op: Op, value: Value) -> Result<Crit, SearchError> {
        let (kind, name) = match &target {
            Target::Field(f) => (f.kind(), f.name()),
            Target::Prop(k) => (Kind::Text, format!("@{k}")),
        };
        let bad = |why: &str| SearchError::Field(format!("Invalid value for field '{name}': {why}"));
        let value = match (op, &value) {
            (Op::Last | Op::Before, Value::Str(s)) if kind == Kind::Date => Operand::Period(
                dates::period_ms(s).ok_or_else(|| bad(&format!("'{s}' is not a period such as 3d, 2w or 1mo")))?,
            ),
            (Op::Last | Op::Before, _) => {
                return Err(bad("$last and $before apply to dates with a period such as \"3d\""));
            }
            (_, Value::Null) => {
                if !matches!(op, Op::Eq | Op::Ne) {
                    return Err(bad("null compares with $eq and $ne only"));
                }
                Operand::Null
            }
            (Op::Match | Op::NMatch, Value::Str(s)) => Operand::Text(s.clone()),
            (Op::Match | Op::NMatch, Value::Num(n)) => Operand::Text(num_text(*n)),
            (_, v) => match kind {
                Kind::Text => Operand::Text(match v {
                    Value::Str(s) => s.clone(),
                    Value::Num(n) => num_text(*n),
                    Value::Null => String::new(),
                }),
                Kind::Number => match v {
                    Value::Num(n) => Operand::Number(*n),
                    Value::Str(s) => {
                        Operand::Number(s.trim().parse().map_err(|_| bad(&format!("'{s}' is not a number")))?)
                    }
                    Value::Null => Operand::Null,
                },
                Kind::Date => match v {
                    Value::Num(n) => Operand::Date(*n as i64),
                    Value::Str(s) => {
                        Operand::Date(dates::parse(s).ok_or_else(|| bad(&format!("'{s}' is not a date")))?)
                    }
                    Value::Null => Operand::Null,
                },
                Kind::ItemType => match v {
                    Value::Str(s) if matches!(s.as_str(), "file" | "folder" | "any") => Operand::Text(s.clone()),
                    _ => return Err(bad("the type is file, folder or any")),
                },
            },
        };
        Ok(Crit { target, op, value })
    }

    /// Whether this criterion is about properties (may stand in `$msp`).
    pub fn is_property(&self) -> bool {
        matches!(
            self.target,
            Target::Prop(_) | Target::Field(Field::PropKey | Field::PropValue)
        )
    }

    /// Decides the criterion for one value of its field (`None`: the field has no value).
    pub fn test(&self, v: Option<&Cell>, now: i64) -> bool {
        let positive = self.test_positive(v, now);
        // A negative operator passes what the positive form does not (null included).
        if self.op.negative() { !positive } else { positive }
    }

    fn test_positive(&self, v: Option<&Cell>, now: i64) -> bool {
        let op = match self.op {
            Op::Ne => Op::Eq,
            Op::NMatch => Op::Match,
            o => o,
        };
        match (&self.value, v) {
            (Operand::Null, v) => v.is_none(),
            (_, None) => false,
            (Operand::Text(p), Some(c)) if op == Op::Match => wildcard(p, &c.text()),
            (Operand::Text(t), Some(Cell::Text(s))) => cmp_op(op, s.as_str().cmp(t.as_str())),
            (Operand::Text(t), Some(c)) => cmp_op(op, c.text().as_str().cmp(t.as_str())),
            (Operand::Number(n), Some(Cell::Num(x))) => (*x as f64).partial_cmp(n).is_some_and(|o| cmp_op(op, o)),
            (Operand::Date(d), Some(Cell::Date(x))) => cmp_op(op, x.cmp(d)),
            (Operand::Period(p), Some(Cell::Date(x))) => match op {
                Op::Last => *x >= now - p,
                _ => *x < now - p,
            },
            _ => false,
        }
    }
}

fn cmp_op(op: Op, o: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::*;
    match op {
        Op::Eq => o == Equal,
        Op::Gt => o == Greater,
        Op::Gte => o != Less,
        Op::Lt => o == Less,
        Op::Lte => o != Greater,
        _ => false,
    }
}

fn num_text(n: f64) -> String {
    if n.fract() == 0.0 && n.abs() < 1e15 {
        format!("{}", n as i64)
    } else {
        n.to_string()
    }
}

/// One field value of a row.
#[derive(Debug, Clone, PartialEq)]
pub enum Cell {
    Text(String),
    Num(i64),
    Date(i64),
}

impl Cell {
    pub fn text(&self) -> String {
        match self {
            Cell::Text(s) => s.clone(),
            Cell::Num(n) => n.to_string(),
            Cell::Date(d) => crate::clock::iso8601(*d),
        }
    }
}

/// Artifactory's `$match` wildcards: `*` any run of characters, `?` one.
pub fn wildcard(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let t: Vec<char> = text.chars().collect();
    let (mut pi, mut ti) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && (p[pi] == '?' || p[pi] == t[ti]) {
            pi += 1;
            ti += 1;
        } else if pi < p.len() && p[pi] == '*' {
            star = Some((pi, ti));
            pi += 1;
        } else if let Some((sp, st)) = star {
            pi = sp + 1;
            ti = st + 1;
            star = Some((sp, st + 1));
        } else {
            return false;
        }
    }
    p[pi..].iter().all(|c| *c == '*')
}

/// The text before a pattern's first wildcard.
pub fn literal_prefix(pattern: &str) -> &str {
    &pattern[..pattern.find(['*', '?']).unwrap_or(pattern.len())]
}

/// A boolean combination of criteria.
#[derive(Debug, Clone, PartialEq)]
pub enum Expr {
    And(Vec<Expr>),
    Or(Vec<Expr>),
    /// Property criteria one single property must meet together.
    Msp(Vec<Crit>),
    Cmp(Crit),
}

impl Expr {
    /// Whether any criterion names `f`.
    pub fn mentions(&self, f: Field) -> bool {
        match self {
            Expr::And(l) | Expr::Or(l) => l.iter().any(|e| e.mentions(f)),
            Expr::Msp(c) => c.iter().any(|c| c.target == Target::Field(f)),
            Expr::Cmp(c) => c.target == Target::Field(f),
        }
    }

    /// Whether any criterion satisfies `pred`.
    pub fn any_crit(&self, pred: &dyn Fn(&Crit) -> bool) -> bool {
        match self {
            Expr::And(l) | Expr::Or(l) => l.iter().any(|e| e.any_crit(pred)),
            Expr::Msp(c) => c.iter().any(pred),
            Expr::Cmp(c) => pred(c),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortDir {
    Asc,
    Desc,
}

/// A whole query.
#[derive(Debug, Clone)]
pub struct Query {
    pub domain: Domain,
    pub expr: Expr,
    /// Field names as given to `.include(…)`.
    pub include: Vec<String>,
    pub sort: Vec<(Field, SortDir)>,
    pub offset: u64,
    pub limit: Option<u64>,
    pub distinct: bool,
}

/// What an answer row shows.
#[derive(Debug, Clone, Default)]
pub struct Shape {
    pub fields: Vec<Field>,
    /// `properties`: all (`None` key filter) or only some keys.
    pub properties: Option<Option<Vec<String>>>,
    pub stats: bool,
}

impl Query {
    pub fn new(domain: Domain) -> Query {
        Query {
            domain,
            expr: Expr::And(Vec::new()),
            include: Vec::new(),
            sort: Vec::new(),
            offset: 0,
            limit: None,
            distinct: true,
        }
    }

    /// Checks that every included name is a field of the domain.
    pub fn check_include(&self) -> Result<(), SearchError> {
        self.shape().map(|_| ())
    }

    /// The fields, properties and statistics the answer rows show.
    pub fn shape(&self) -> Result<Shape, SearchError> {
        let mut s = Shape::default();
        let defaults: Vec<Field> = match self.domain {
            Domain::Builds => BUILD_FIELDS.iter().map(|b| Field::Build(*b)).collect(),
            _ => ITEM_DEFAULT.to_vec(),
        };
        if self.include.is_empty() {
            s.fields = defaults;
            return Ok(s);
        }
        let push = |s: &mut Shape, f: Field| {
            if !s.fields.contains(&f) {
                s.fields.push(f);
            }
        };
        for name in &self.include {
            match (self.domain, name.as_str()) {
                (Domain::Builds, "*") => BUILD_FIELDS.iter().for_each(|b| push(&mut s, Field::Build(*b))),
                (_, "*") => ITEM_FIELDS.iter().for_each(|f| push(&mut s, *f)),
                (Domain::Items | Domain::Entries, "property" | "property.*" | "property.key" | "property.value") => {
                    s.properties = Some(None)
                }
                (Domain::Items | Domain::Entries, "stat" | "stat.*") => s.stats = true,
                (Domain::Items | Domain::Entries, n) if n.starts_with('@') => {
                    let key = n[1..].to_string();
                    match &mut s.properties {
                        Some(Some(keys)) => keys.push(key),
                        Some(None) => {}
                        None => s.properties = Some(Some(vec![key])),
                    }
                }
                (_, n) => {
                    let f = Field::parse(self.domain, n)
                        .ok_or_else(|| SearchError::Field(format!("Unknown field '{n}' in include(…)")))?;
                    match f {
                        Field::StatDownloads
                        | Field::StatDownloaded
                        | Field::StatDownloadedBy
                        | Field::StatRemoteDownloads
                        | Field::StatRemoteDownloaded => s.stats = true,
                        Field::PropKey | Field::PropValue => s.properties = Some(None),
                        Field::ArtifactBuild(_)
                        | Field::DependencyBuild(_)
                        | Field::BuildPropKey
                        | Field::BuildPropValue => {
                            return Err(SearchError::Field(format!(
                                "include(…) of the related field '{n}' is not supported: search the builds domain"
                            )));
                        }
                        f => push(&mut s, f),
                    }
                }
            }
        }
        Ok(s)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(wildcard("org.*", "org.example"));
        assert!(wildcard("*", ""));
        assert!(wildcard("a?c", "abc"));
        assert!(!wildcard("a?c", "abbc"));
        assert!(wildcard("*é*", "café.txt"));
        assert!(!wildcard("a*b", "acbd"));
        assert_eq!(literal_prefix("lib*.jar"), "lib");
    }

    #[test]
    fn criteria_compare_by_kind() {
        let c = Crit::new(Target::Field(Field::Size), Op::Gt, Value::Num(10.0)).unwrap();
        assert!(c.test(Some(&Cell::Num(11)), 0));
        assert!(!c.test(Some(&Cell::Num(10)), 0));
        let c = Crit::new(Target::Field(Field::Name), Op::Ne, Value::Str("a".into())).unwrap();
        assert!(c.test(None, 0));
        assert!(!c.test(Some(&Cell::Text("a".into())), 0));
        let c = Crit::new(Target::Field(Field::Created), Op::Last, Value::Str("2d".into())).unwrap();
        assert!(c.test(Some(&Cell::Date(1_000_000_000 - 86_400_000)), 1_000_000_000));
        assert!(!c.test(Some(&Cell::Date(1_000_000_000 - 3 * 86_400_000)), 1_000_000_000));
        assert!(Crit::new(Target::Field(Field::Type), Op::Eq, Value::Str("dir".into())).is_err());
        assert!(Crit::new(Target::Field(Field::Name), Op::Gt, Value::Null).is_err());
    }
}
