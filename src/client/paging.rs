//! Paged lists (`limit` + `continue`), the one place that follows a list's continue token.

use kube::api::{Api, ListParams};
use kube::core::ListMeta;
use serde::de::DeserializeOwned;
use std::fmt::Debug;

/// Objects per list page.
pub const PAGE_SIZE: u32 = 500;

/// After a page: point `lp` at the next one; `false` when this page was the last.
pub fn advance(lp: &mut ListParams, meta: &ListMeta) -> bool {
    match meta.continue_.as_deref().filter(|c| !c.is_empty()) {
        Some(c) => {
            lp.continue_token = Some(c.to_string());
            true
        }
        None => false,
    }
}

/// Every object of a list, page by page, and the list's resourceVersion (to watch from).
pub async fn list_all<K>(api: &Api<K>, mut lp: ListParams) -> Result<(Vec<K>, String), kube::Error>
where
    K: kube::Resource + Clone + DeserializeOwned + Debug,
{
    lp.limit = lp.limit.or(Some(PAGE_SIZE));
    let mut out = Vec::new();
    let mut rv = String::new();
    loop {
        let page = api.list(&lp).await?;
        rv = page.metadata.resource_version.clone().unwrap_or(rv);
        let more = advance(&mut lp, &page.metadata);
        out.extend(page.items);
        if !more {
            return Ok((out, rv));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advance_follows_the_continue_token_until_it_is_empty() {
        let mut lp = ListParams::default().limit(2);
        let meta = |c: Option<&str>| ListMeta {
            continue_: c.map(str::to_string),
            ..ListMeta::default()
        };
        assert!(advance(&mut lp, &meta(Some("t1"))));
        assert_eq!(lp.continue_token.as_deref(), Some("t1"));
        assert!(!advance(&mut lp, &meta(Some(""))));
        assert!(!advance(&mut lp, &meta(None)));
    }
}
