//! The AQL parser: `domain.find({...}).include(...).sort({...}).offset(n).limit(n)`
//! into a [`Query`]. The criteria are JSON-like, but objects keep every key in order
//! (JFrog CLI sends `"$or"` twice in one object), so this is its own small parser with
//! a nesting bound; every error names the position or the field.

use super::SearchError;
use super::query::{Crit, Domain, Expr, Field, Op, Query, SortDir, Target, Value};

/// The deepest nesting of objects and arrays a query may have.
pub const MAX_DEPTH: usize = 64;

/// A parsed JSON-like value with the byte position it started at.
#[derive(Debug, Clone)]
enum J {
    Null,
    Bool(bool),
    Num(f64),
    Str(String),
    Arr(Vec<(usize, J)>),
    Obj(Vec<(String, usize, J)>),
}

struct Parser<'a> {
    s: &'a [u8],
    text: &'a str,
    at: usize,
}

fn syntax(at: usize, text: &str, what: &str) -> SearchError {
    let near: String = text[floor_char(text, at)..].chars().take(40).collect();
    SearchError::Syntax(format!(
        "Failed to parse query: {what} at position {at}, near: '{near}'"
    ))
}

fn floor_char(s: &str, mut i: usize) -> usize {
    i = i.min(s.len());
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

impl<'a> Parser<'a> {
    fn ws(&mut self) {
        while self.at < self.s.len() && self.s[self.at].is_ascii_whitespace() {
            self.at += 1;
        }
    }

    fn err(&self, what: &str) -> SearchError {
        syntax(self.at, self.text, what)
    }

    fn peek(&mut self) -> Option<u8> {
        self.ws();
        self.s.get(self.at).copied()
    }

    fn expect(&mut self, c: u8) -> Result<(), SearchError> {
        if self.peek() == Some(c) {
            self.at += 1;
            Ok(())
        } else {
            Err(self.err(&format!("expected '{}'", c as char)))
        }
    }

    fn ident(&mut self) -> Result<String, SearchError> {
        self.ws();
        let start = self.at;
        while self.at < self.s.len() && (self.s[self.at].is_ascii_alphanumeric() || self.s[self.at] == b'_') {
            self.at += 1;
        }
        if start == self.at {
            return Err(self.err("expected a name"));
        }
        Ok(self.text[start..self.at].to_string())
    }

    fn value(&mut self, depth: usize) -> Result<(usize, J), SearchError> {
        if depth > MAX_DEPTH {
            return Err(self.err(&format!("the query nests deeper than {MAX_DEPTH} levels")));
        }
        let c = self.peek().ok_or_else(|| self.err("unexpected end of the query"))?;
        let start = self.at;
        let v = match c {
            b'{' => {
                self.at += 1;
                let mut fields = Vec::new();
                if self.peek() == Some(b'}') {
                    self.at += 1;
                } else {
                    loop {
                        let kpos = {
                            self.ws();
                            self.at
                        };
                        let key = match self.peek() {
                            Some(b'"') => self.string()?,
                            _ => return Err(self.err("expected a quoted field name")),
                        };
                        self.expect(b':')?;
                        let (_, v) = self.value(depth + 1)?;
                        fields.push((key, kpos, v));
                        match self.peek() {
                            Some(b',') => self.at += 1,
                            Some(b'}') => {
                                self.at += 1;
                                break;
                            }
                            _ => return Err(self.err("expected ',' or '}'")),
                        }
                    }
                }
                J::Obj(fields)
            }
            b'[' => {
                self.at += 1;
                let mut items = Vec::new();
                if self.peek() == Some(b']') {
                    self.at += 1;
                } else {
                    loop {
                        items.push(self.value(depth + 1)?);
                        match self.peek() {
                            Some(b',') => self.at += 1,
                            Some(b']') => {
                                self.at += 1;
                                break;
                            }
                            _ => return Err(self.err("expected ',' or ']'")),
                        }
                    }
                }
                J::Arr(items)
            }
            b'"' => J::Str(self.string()?),
            b't' if self.s[self.at..].starts_with(b"true") => {
                self.at += 4;
                J::Bool(true)
            }
            b'f' if self.s[self.at..].starts_with(b"false") => {
                self.at += 5;
                J::Bool(false)
            }
            b'n' if self.s[self.at..].starts_with(b"null") => {
                self.at += 4;
                J::Null
            }
            b'-' | b'0'..=b'9' => {
                while self.at < self.s.len()
                    && matches!(self.s[self.at], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9')
                {
                    self.at += 1;
                }
                let n: f64 = self.text[start..self.at]
                    .parse()
                    .map_err(|_| syntax(start, self.text, "not a number"))?;
                J::Num(n)
            }
            _ => return Err(self.err("expected a value")),
        };
        Ok((start, v))
    }

    fn string(&mut self) -> Result<String, SearchError> {
        self.ws();
        let start = self.at;
        self.at += 1; // the opening quote
        let mut out = String::new();
        loop {
            let rest = &self.text[self.at..];
            let Some(i) = rest.find(['"', '\\']) else {
                return Err(syntax(start, self.text, "unterminated string"));
            };
            out.push_str(&rest[..i]);
            self.at += i;
            if self.s[self.at] == b'"' {
                self.at += 1;
                return Ok(out);
            }
            // An escape.
            let e = self.s.get(self.at + 1).copied();
            self.at += 2;
            match e {
                Some(b'"') => out.push('"'),
                Some(b'\\') => out.push('\\'),
                Some(b'/') => out.push('/'),
                Some(b'n') => out.push('\n'),
                Some(b't') => out.push('\t'),
                Some(b'r') => out.push('\r'),
                Some(b'b') => out.push('\u{8}'),
                Some(b'f') => out.push('\u{c}'),
                Some(b'u') => {
                    let hex = self
                        .text
                        .get(self.at..self.at + 4)
                        .ok_or_else(|| self.err("bad \\u escape"))?;
                    let n = u32::from_str_radix(hex, 16).map_err(|_| self.err("bad \\u escape"))?;
                    self.at += 4;
                    out.push(char::from_u32(n).unwrap_or('\u{fffd}'));
                }
                _ => return Err(syntax(self.at.saturating_sub(2), self.text, "bad escape")),
            }
        }
    }
}

/// Parses a whole AQL query.
pub fn parse(text: &str) -> Result<Query, SearchError> {
    let mut p = Parser {
        s: text.as_bytes(),
        text,
        at: 0,
    };
    let mut domain_name = p.ident()?;
    // `build.properties`-style domains are two words.
    while p.peek() == Some(b'.') {
        let save = p.at;
        p.at += 1;
        let next = p.ident()?;
        if next == "find" {
            p.at = save;
            break;
        }
        domain_name = format!("{domain_name}.{next}");
    }
    let domain = match domain_name.as_str() {
        "items" => Domain::Items,
        "builds" => Domain::Builds,
        "entries" | "archive.entries" => Domain::Entries,
        other => {
            return Err(SearchError::Field(format!(
                "Unknown domain '{other}': binyard answers items, builds and entries"
            )));
        }
    };
    p.expect(b'.')?;
    let f = p.ident()?;
    if f != "find" {
        return Err(syntax(p.at - f.len(), text, "expected find(…)"));
    }
    p.expect(b'(')?;
    let criteria = if p.peek() == Some(b')') {
        J::Obj(Vec::new())
    } else {
        p.value(0)?.1
    };
    p.expect(b')')?;
    let mut q = Query::new(domain);
    q.expr = criteria_expr(domain, &criteria, 0)?;
    while p.peek() == Some(b'.') {
        p.at += 1;
        let mpos = {
            p.ws();
            p.at
        };
        let m = p.ident()?;
        p.expect(b'(')?;
        let mut args = Vec::new();
        if p.peek() != Some(b')') {
            loop {
                args.push(p.value(1)?);
                match p.peek() {
                    Some(b',') => p.at += 1,
                    _ => break,
                }
            }
        }
        p.expect(b')')?;
        match m.as_str() {
            "include" => {
                for (at, a) in args {
                    match a {
                        J::Str(s) => q.include.push(s),
                        _ => return Err(syntax(at, text, "include(…) takes quoted field names")),
                    }
                }
            }
            "sort" => {
                let Some((at, J::Obj(fields))) = args.into_iter().next() else {
                    return Err(syntax(mpos, text, "sort(…) takes {\"$asc\"|\"$desc\": [fields]}"));
                };
                for (dir, _, list) in fields {
                    let dir = match dir.as_str() {
                        "$asc" => SortDir::Asc,
                        "$desc" => SortDir::Desc,
                        _ => return Err(syntax(at, text, "sort(…) takes $asc or $desc")),
                    };
                    let J::Arr(list) = list else {
                        return Err(syntax(at, text, "sort(…) takes a list of fields"));
                    };
                    for (fat, name) in list {
                        let J::Str(name) = name else {
                            return Err(syntax(fat, text, "sort(…) takes quoted field names"));
                        };
                        let field = Field::parse(domain, &name)
                            .ok_or_else(|| SearchError::Field(format!("Unknown field '{name}' in sort(…)")))?;
                        q.sort.push((field, dir));
                    }
                }
            }
            "offset" | "limit" => {
                let n = match args.as_slice() {
                    [(_, J::Num(n))] if *n >= 0.0 && n.fract() == 0.0 && *n <= 1e15 => *n as u64,
                    _ => return Err(syntax(mpos, text, &format!("{m}(…) takes one whole number"))),
                };
                if m == "offset" {
                    q.offset = n;
                } else {
                    q.limit = Some(n);
                }
            }
            "distinct" => match args.as_slice() {
                [(_, J::Bool(b))] => q.distinct = *b,
                _ => return Err(syntax(mpos, text, "distinct(…) takes true or false")),
            },
            // JFrog CLI's transitive search of remote repositories: binyard searches
            // what is stored, so this changes nothing.
            "transitive" => {}
            other => return Err(syntax(mpos, text, &format!("unknown method '{other}'"))),
        }
    }
    if p.peek().is_some() {
        return Err(p.err("unexpected text after the query"));
    }
    q.check_include()?;
    Ok(q)
}

/// Turns a criteria object into an expression; several keys are all required.
fn criteria_expr(domain: Domain, j: &J, depth: usize) -> Result<Expr, SearchError> {
    let J::Obj(fields) = j else {
        return Err(SearchError::Field(
            "Criteria must be an object such as {\"name\":\"a.jar\"}".into(),
        ));
    };
    let mut all = Vec::with_capacity(fields.len());
    for (key, _, v) in fields {
        all.push(key_expr(domain, key, v, depth)?);
    }
    Ok(if all.len() == 1 {
        all.pop().unwrap_or(Expr::And(Vec::new()))
    } else {
        Expr::And(all)
    })
}

/// The operands of `$and`/`$or`/`$msp`: the operator joins every key of every
/// object in its list (`"$or":[{"a":1,"b":2}]` is a or b, which JFrog CLI's
/// exclusions rely on).
fn list_exprs(domain: Domain, key: &str, v: &J, depth: usize) -> Result<Vec<Expr>, SearchError> {
    let J::Arr(items) = v else {
        return Err(SearchError::Field(format!("'{key}' takes a list of criteria")));
    };
    let mut out = Vec::new();
    for (_, j) in items {
        let J::Obj(fields) = j else {
            return Err(SearchError::Field(format!("'{key}' takes a list of criteria objects")));
        };
        for (k, _, v) in fields {
            out.push(key_expr(domain, k, v, depth + 1)?);
        }
    }
    Ok(out)
}

fn key_expr(domain: Domain, key: &str, v: &J, depth: usize) -> Result<Expr, SearchError> {
    match key {
        "$and" => Ok(Expr::And(list_exprs(domain, key, v, depth)?)),
        "$or" => Ok(Expr::Or(list_exprs(domain, key, v, depth)?)),
        "$msp" => {
            let mut crits = Vec::new();
            for e in list_exprs(domain, key, v, depth)? {
                flatten_crits(e, &mut crits)?;
            }
            Ok(Expr::Msp(crits))
        }
        k if k.starts_with('$') => Err(SearchError::Field(format!("Unknown operator '{k}'"))),
        _ => {
            let target = if let Some(p) = key.strip_prefix('@') {
                Target::Prop(p.to_string())
            } else {
                Target::Field(Field::parse(domain, key).ok_or_else(|| {
                    SearchError::Field(format!("Unknown field '{key}' in the {} domain", domain.name()))
                })?)
            };
            field_expr(&target, key, v)
        }
    }
}

/// `$msp` lists property criteria only.
fn flatten_crits(e: Expr, out: &mut Vec<Crit>) -> Result<(), SearchError> {
    match e {
        Expr::Cmp(c) if c.is_property() => {
            out.push(c);
            Ok(())
        }
        Expr::And(list) => list.into_iter().try_for_each(|e| flatten_crits(e, out)),
        _ => Err(SearchError::Field(
            "$msp takes property criteria only (\"@key\", property.key, property.value)".into(),
        )),
    }
}

fn field_expr(target: &Target, key: &str, v: &J) -> Result<Expr, SearchError> {
    match v {
        J::Obj(ops) => {
            let mut all = Vec::new();
            for (op, _, val) in ops {
                let op =
                    Op::parse(op).ok_or_else(|| SearchError::Field(format!("Unknown operator '{op}' on '{key}'")))?;
                all.push(Expr::Cmp(Crit::new(target.clone(), op, scalar(key, val)?)?));
            }
            if all.is_empty() {
                return Err(SearchError::Field(format!("'{key}' has no comparison")));
            }
            Ok(if all.len() == 1 {
                all.pop().unwrap_or(Expr::And(Vec::new()))
            } else {
                Expr::And(all)
            })
        }
        other => Ok(Expr::Cmp(Crit::new(target.clone(), Op::Eq, scalar(key, other)?)?)),
    }
}

fn scalar(key: &str, v: &J) -> Result<Value, SearchError> {
    Ok(match v {
        J::Null => Value::Null,
        J::Bool(b) => Value::Str(b.to_string()),
        J::Num(n) => Value::Num(*n),
        J::Str(s) => Value::Str(s.clone()),
        J::Arr(_) | J::Obj(_) => {
            return Err(SearchError::Field(format!(
                "The value of '{key}' must be a string, number or null"
            )));
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(q: &str) -> String {
        match parse(q) {
            Err(SearchError::Syntax(m) | SearchError::Field(m)) => m,
            other => panic!("{q}: {other:?}"),
        }
    }

    #[test]
    fn parses_the_shapes_clients_send() {
        let q = parse(
            r#"items.find({"path":{"$ne":"."},"$or":[{"$and":[{"repo":"r","path":{"$match":"a/*"},"name":{"$match":"*.jar"}}]}],"$or":[{"@a":{"$ne":"1"}}]}).include("name","repo","path","actual_md5","property").sort({"$desc":["created"]}).offset(2).limit(10)"#,
        )
        .unwrap();
        assert_eq!(q.offset, 2);
        assert_eq!(q.limit, Some(10));
        assert_eq!(q.include.len(), 5);
        let Expr::And(parts) = &q.expr else { panic!() };
        assert_eq!(parts.len(), 3);
        parse(r#"items.find()"#).unwrap();
        parse(r#"builds.find({"name":{"$match":"app*"}}).include("build.name","build.number")"#).unwrap();
        parse(r#"items.find({"$msp":[{"@license":{"$match":"*GPL*"}},{"@license":{"$ne":"LGPL"}}]})"#).unwrap();
        parse("items.find({\"name\":\"\\u00e9t\u{e9}.txt\"}).distinct(true)").unwrap();
    }

    #[test]
    fn errors_name_the_place_or_field() {
        assert!(err(r#"items.find({"name":"a"}"#).contains("position"));
        assert!(err(r#"items.find({"name":"a"})).limit(1)"#).contains("position"));
        assert!(err(r#"things.find({})"#).contains("Unknown domain 'things'"));
        assert!(err(r#"items.find({"colour":"red"})"#).contains("'colour'"));
        assert!(err(r#"items.find({"name":{"$like":"a"}})"#).contains("'$like'"));
        assert!(err(r#"items.find({"size":{"$gt":"big"}})"#).contains("'size'"));
        assert!(err(r#"items.find({"created":{"$gt":"someday"}})"#).contains("'created'"));
        assert!(err(r#"items.find({"name":["a"]})"#).contains("'name'"));
        assert!(err(r#"items.find({}).limit(-1)"#).contains("limit"));
        let deep = format!("items.find({}{})", r#"{"$and":["#.repeat(100_000), "]}".repeat(100_000));
        assert!(err(&deep).contains("nests deeper"));
        assert!(err("items.find({\"name\":\"a").contains("unterminated"));
        assert!(err("items.find({\"name\":\"\u{e9}").contains("unterminated"));
    }
}
