//! Plugin answers kept in memory. A plugin marks an answer `cache: repository`
//! (0.1: the `x-binyard-cache: repository` header) when it depends only on the
//! request and the repository's content
//! (a packument, a simple page, maven-metadata.xml); the host then answers the same
//! request from memory, without a plugin call, until the repository changes
//! (`MetaStore::repo_stamp`) or the plugin is replaced (its sha256 is in the key).
//! Permission checks still run before every answer.

use std::any::Any;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};

use bytes::Bytes;

use crate::plugins::AnswerKind;
use crate::repos::RepoConfig;
use crate::storage::Item;

/// What identifies one answer.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct AnswerKey {
    pub plugin_sha256: String,
    pub repo: String,
    pub path: String,
    pub query: String,
    /// The `Accept` header (formats answer by it).
    pub accept: String,
    /// The base URL links in the answer are made from.
    pub base: String,
}

/// The body of a kept answer.
#[derive(Debug, Clone)]
pub enum AnswerBody {
    Empty,
    Bytes(Bytes),
    /// A stored file of the repository, streamed when answered, with its record as it
    /// was when the answer was made (valid as long as the answer is: any write to the
    /// repository moves its stamp).
    Artifact(String, Box<Item>),
}

/// A plugin's answer, kept or not; a kept one is shared (`Arc`) by every request it
/// answers.
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: AnswerBody,
    /// What the HTTP layer made of it, made once and reused.
    pub rendered: Rendered,
    /// What the plugin said the answer is (for virtual repositories).
    pub kind: AnswerKind,
    /// For a kept answer of a local repository or a virtual repository's merged
    /// answer: what it depends on besides its key, so that the HTTP layer can keep the
    /// whole response as long as this holds (`Formats::still_valid`).
    pub validity: Option<Validity>,
}

/// What a kept answer depends on besides the request: the configuration and content
/// (its stamp when the plugin was called) of the repository asked — and, for a
/// virtual repository's merged answer, of each member merged — and the plugin.
#[derive(Debug, Clone)]
pub struct Validity {
    /// The repository asked first, then the members merged.
    pub repos: Vec<(Arc<RepoConfig>, u64)>,
    pub plugin_sha256: String,
}

impl Validity {
    /// The repository the answer is for.
    pub fn repo(&self) -> &RepoConfig {
        &self.repos[0].0
    }
}

impl Answer {
    /// An answer with nothing rendered yet.
    pub fn new(status: u16, headers: Vec<(String, String)>, body: AnswerBody) -> Answer {
        Answer {
            status,
            headers,
            body,
            rendered: Rendered::default(),
            kind: AnswerKind::File,
            validity: None,
        }
    }
}

/// What the HTTP layer made of an answer (its response head and body, ETag and
/// checksum headers included), kept beside it so that a kept answer is rendered
/// once, not on every request it serves. Opaque here: the format service does
/// not speak HTTP.
#[derive(Clone, Default)]
pub struct Rendered(Arc<OnceLock<Arc<dyn Any + Send + Sync>>>);

impl Rendered {
    /// The rendering kept, if it is a `T`.
    pub fn get<T: Any + Send + Sync>(&self) -> Option<Arc<T>> {
        self.0.get().cloned()?.downcast().ok()
    }

    /// Keeps `value` (the first one kept stays) and answers the rendering kept.
    pub fn keep<T: Any + Send + Sync>(&self, value: T) -> Option<Arc<T>> {
        let _ = self.0.set(Arc::new(value));
        self.get()
    }
}

impl std::fmt::Debug for Rendered {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.get().is_some() {
            "Rendered"
        } else {
            "NotRendered"
        })
    }
}

impl Answer {
    fn size(&self) -> usize {
        let body = match &self.body {
            AnswerBody::Empty => 0,
            AnswerBody::Bytes(b) => b.len(),
            AnswerBody::Artifact(p, _) => p.len() + 512,
        };
        body + self.headers.iter().map(|(k, v)| k.len() + v.len()).sum::<usize>() + 256
    }
}

struct Kept {
    stamp: u64,
    answer: Arc<Answer>,
}

#[derive(Default)]
struct Inner {
    map: HashMap<AnswerKey, Kept>,
    /// Insertion order, for eviction (oldest first).
    order: VecDeque<AnswerKey>,
    bytes: usize,
}

/// The kept answers, bounded in bytes.
pub struct Answers {
    inner: Mutex<Inner>,
    max_bytes: usize,
}

impl Answers {
    /// A cache of at most `max_bytes` (0: nothing is kept).
    pub fn new(max_bytes: usize) -> Answers {
        Answers {
            inner: Mutex::new(Inner::default()),
            max_bytes,
        }
    }

    /// The answer kept for `key`, if the repository is still at `stamp`.
    pub fn get(&self, key: &AnswerKey, stamp: u64) -> Option<Arc<Answer>> {
        let inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let found = inner
            .map
            .get(key)
            .filter(|k| k.stamp == stamp)
            .map(|k| k.answer.clone());
        crate::observe::answer_cache(found.is_some());
        found
    }

    /// Keeps an answer made while the repository was at `stamp`.
    pub fn put(&self, key: AnswerKey, stamp: u64, answer: Arc<Answer>) {
        let size = answer.size();
        if size > self.max_bytes / 4 {
            return;
        }
        let mut inner = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(old) = inner.map.remove(&key) {
            inner.bytes -= old.answer.size();
            inner.order.retain(|k| k != &key);
        }
        while inner.bytes + size > self.max_bytes {
            let Some(oldest) = inner.order.pop_front() else { break };
            if let Some(old) = inner.map.remove(&oldest) {
                inner.bytes -= old.answer.size();
            }
        }
        inner.bytes += size;
        inner.order.push_back(key.clone());
        inner.map.insert(key, Kept { stamp, answer });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(path: &str) -> AnswerKey {
        AnswerKey {
            plugin_sha256: "p".into(),
            repo: "r".into(),
            path: path.into(),
            query: String::new(),
            accept: String::new(),
            base: String::new(),
        }
    }

    fn answer(n: usize) -> Arc<Answer> {
        Arc::new(Answer::new(
            200,
            Vec::new(),
            AnswerBody::Bytes(Bytes::from(vec![0u8; n])),
        ))
    }

    #[test]
    fn stamps_and_bounds() {
        let a = Answers::new(10_000);
        a.put(key("x"), 1, answer(1000));
        assert!(a.get(&key("x"), 1).is_some());
        assert!(a.get(&key("x"), 2).is_none(), "a changed repository misses");
        assert!(a.get(&key("y"), 1).is_none());
        for i in 0..20 {
            a.put(key(&i.to_string()), 1, answer(1000));
        }
        let inner = a.inner.lock().unwrap();
        assert!(inner.bytes <= 10_000 && inner.map.len() == inner.order.len());
        drop(inner);
        assert!(a.get(&key("19"), 1).is_some(), "the newest stay");
        assert!(a.get(&key("0"), 1).is_none(), "the oldest went");
        a.put(key("big"), 1, answer(5000));
        assert!(a.get(&key("big"), 1).is_none(), "too big to keep");
        assert!(Answers::new(0).get(&key("x"), 1).is_none());
    }

    #[test]
    fn rendered_once_and_shared() {
        let a = Answers::new(10_000);
        a.put(key("x"), 1, answer(10));
        let first = a.get(&key("x"), 1).unwrap();
        assert!(first.rendered.get::<String>().is_none());
        assert_eq!(*first.rendered.keep("head".to_string()).unwrap(), "head");
        assert_eq!(
            *first.rendered.keep("other".to_string()).unwrap(),
            "head",
            "the first stays"
        );
        let again = a.get(&key("x"), 1).unwrap();
        assert_eq!(*again.rendered.get::<String>().unwrap(), "head", "every hit shares it");
        assert!(again.rendered.get::<u32>().is_none(), "another type is not it");
    }
}
