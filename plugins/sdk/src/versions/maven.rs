//! Maven's version order (`ComparableVersion` of Maven 3): `1.0-alpha-1 < 1.0-beta <
//! 1.0-rc1 < 1.0-SNAPSHOT < 1.0 < 1.0-sp < 1.0.1`, numbers compared as numbers.

use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Item {
    /// Decimal digits without leading zeros ("" is zero), so any length compares right.
    Int(String),
    /// A qualifier after aliasing (`ga`, `final`, `release` → "", `cr` → "rc").
    Str(String),
    List(Vec<Item>),
}

const QUALIFIERS: [&str; 7] = ["alpha", "beta", "milestone", "rc", "snapshot", "", "sp"];
/// The index of "" (a release) in `QUALIFIERS`.
const RELEASE_INDEX: &str = "5";

fn qualifier_key(q: &str) -> String {
    match QUALIFIERS.iter().position(|x| *x == q) {
        Some(i) => i.to_string(),
        None => format!("{}-{q}", QUALIFIERS.len()),
    }
}

fn int_item(digits: &str) -> Item {
    Item::Int(digits.trim_start_matches('0').to_string())
}

fn str_item(s: &str, followed_by_digit: bool) -> Item {
    let s = match (followed_by_digit, s) {
        (true, "a") => "alpha",
        (true, "b") => "beta",
        (true, "m") => "milestone",
        (_, "ga" | "final" | "release") => "",
        (_, "cr") => "rc",
        _ => s,
    };
    Item::Str(s.to_string())
}

fn parse_item(is_digit: bool, s: &str) -> Item {
    if is_digit { int_item(s) } else { str_item(s, false) }
}

impl Item {
    fn is_null(&self) -> bool {
        match self {
            Item::Int(d) => d.is_empty(),
            Item::Str(s) => s.is_empty(),
            Item::List(l) => l.is_empty(),
        }
    }

    fn cmp_opt(&self, other: Option<&Item>) -> Ordering {
        match (self, other) {
            (Item::Int(d), None) => {
                if d.is_empty() {
                    Ordering::Equal
                } else {
                    Ordering::Greater
                }
            }
            (Item::Int(a), Some(Item::Int(b))) => a.len().cmp(&b.len()).then_with(|| a.cmp(b)),
            (Item::Int(_), Some(_)) => Ordering::Greater,
            (Item::Str(s), None) => qualifier_key(s).as_str().cmp(RELEASE_INDEX),
            (Item::Str(_), Some(Item::Int(_))) => Ordering::Less,
            (Item::Str(a), Some(Item::Str(b))) => qualifier_key(a).cmp(&qualifier_key(b)),
            (Item::Str(_), Some(Item::List(_))) => Ordering::Less,
            // Every item against nothing, not just the first (MNG-6964: 1-0.alpha < 1).
            (Item::List(l), None) => l
                .iter()
                .map(|i| i.cmp_opt(None))
                .find(|o| *o != Ordering::Equal)
                .unwrap_or(Ordering::Equal),
            (Item::List(_), Some(Item::Int(_))) => Ordering::Less,
            (Item::List(_), Some(Item::Str(_))) => Ordering::Greater,
            (Item::List(a), Some(Item::List(b))) => {
                let n = a.len().max(b.len());
                for i in 0..n {
                    let r = match (a.get(i), b.get(i)) {
                        (None, None) => Ordering::Equal,
                        (None, Some(r)) => r.cmp_opt(None).reverse(),
                        (Some(l), r) => l.cmp_opt(r),
                    };
                    if r != Ordering::Equal {
                        return r;
                    }
                }
                Ordering::Equal
            }
        }
    }
}

/// Drops null items from the end, stepping over non-null sub-lists (`1.0-alpha` =
/// `1-alpha`), as Maven does when it closes each list.
fn normalize(list: &mut Vec<Item>) {
    let mut i = list.len();
    while i > 0 {
        i -= 1;
        if list[i].is_null() {
            list.remove(i);
        } else if !matches!(list[i], Item::List(_)) {
            break;
        }
    }
}

/// A version parsed for comparison.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MavenVersion(Vec<Item>);

impl MavenVersion {
    pub fn parse(version: &str) -> MavenVersion {
        let v = version.to_ascii_lowercase();
        // The nesting: each '-' or digit/letter transition opens a sub-list.
        let mut stack: Vec<Vec<Item>> = vec![Vec::new()];
        let mut is_digit = false;
        let mut start = 0;
        let bytes = v.as_bytes();
        let push_list = |stack: &mut Vec<Vec<Item>>| stack.push(Vec::new());
        for (i, &c) in bytes.iter().enumerate() {
            let top = stack.len() - 1;
            match c {
                b'.' | b'-' => {
                    let item = if i == start {
                        Item::Int(String::new())
                    } else {
                        parse_item(is_digit, &v[start..i])
                    };
                    stack[top].push(item);
                    start = i + 1;
                    // A dash opens a sub-list, as Maven's ComparableVersion does.
                    if c == b'-' {
                        push_list(&mut stack);
                    }
                }
                b'0'..=b'9' => {
                    if !is_digit && i > start {
                        // `.X1` is read as `-X1`, as Maven 3.8 does (1.0.0.X1 < 1.0.0-X2).
                        if !stack[top].is_empty() {
                            push_list(&mut stack);
                        }
                        let top = stack.len() - 1;
                        stack[top].push(str_item(&v[start..i], true));
                        start = i;
                        push_list(&mut stack);
                    }
                    is_digit = true;
                }
                _ => {
                    if is_digit && i > start {
                        stack[top].push(int_item(&v[start..i]));
                        start = i;
                        push_list(&mut stack);
                    }
                    is_digit = false;
                }
            }
        }
        if v.len() > start {
            // A trailing `.X` is read as `-X` too.
            if !is_digit && stack.last().is_some_and(|l| !l.is_empty()) {
                push_list(&mut stack);
            }
            let top = stack.len() - 1;
            stack[top].push(parse_item(is_digit, &v[start..]));
        }
        // Close the sub-lists innermost first, normalising each.
        while stack.len() > 1 {
            let mut inner = stack.pop().unwrap_or_default();
            normalize(&mut inner);
            if let Some(parent) = stack.last_mut() {
                parent.push(Item::List(inner));
            }
        }
        let mut root = stack.pop().unwrap_or_default();
        normalize(&mut root);
        MavenVersion(root)
    }
}

impl Ord for MavenVersion {
    fn cmp(&self, other: &Self) -> Ordering {
        Item::List(self.0.clone()).cmp_opt(Some(&Item::List(other.0.clone())))
    }
}

impl PartialOrd for MavenVersion {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

/// Sorts versions in Maven's order, lowest first.
pub fn sort(versions: &mut [String]) {
    versions.sort_by_cached_key(|v| MavenVersion::parse(v));
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lt(a: &str, b: &str) {
        assert!(MavenVersion::parse(a) < MavenVersion::parse(b), "{a} < {b}");
    }

    #[test]
    fn order() {
        let chain = [
            "1.0-alpha-1",
            "1.0-alpha-2",
            "1.0-beta",
            "1.0-rc1",
            "1.0-SNAPSHOT",
            "1.0",
            "1.0-sp",
            "1.0.1",
            "1.1",
            "1.10",
            "2.0",
            "10.0",
        ];
        for w in chain.windows(2) {
            lt(w[0], w[1]);
        }
        assert_eq!(MavenVersion::parse("1.0.0"), MavenVersion::parse("1"));
        assert_eq!(MavenVersion::parse("1.0-ga"), MavenVersion::parse("1.0"));
        lt("1.0-20261122.120000-1", "1.0-20261122.120000-2");
        lt("99999999999999999999", "100000000000000000000");
    }

    /// Cases where older orderings differ, checked against Maven 3.8.7's
    /// `java -cp maven-artifact.jar org.apache.maven.artifact.versioning.ComparableVersion`.
    #[test]
    fn agrees_with_maven_3_8() {
        lt("1-0.alpha", "1");
        lt("2.0.a", "2.0-2");
        lt("2.0.a", "2-1.0");
        lt("1.0-sp1", "1-1");
        lt("1-1", "1.1");
        lt("1.2.3-20261122.120000-2", "1.2.3-20261122.120000-12");
        for (a, b) in [
            ("1.a1", "1-a1"),
            ("1.0.M1", "1-m1"),
            ("1.0-foo-1", "1.0.foo1"),
            ("1-cr1", "1-rc1"),
        ] {
            assert_eq!(MavenVersion::parse(a), MavenVersion::parse(b), "{a} = {b}");
        }
    }
}
