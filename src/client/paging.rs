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
pub async fn list_all<K>(api: &Api<K>, lp: ListParams) -> Result<(Vec<K>, String), kube::Error>
where
    K: kube::Resource + Clone + DeserializeOwned + Debug,
{
    let mut out = Vec::new();
    let rv = each_page(api, lp, |page| out.extend(page)).await?;
    Ok((out, rv))
}

/// Hand each page of a list to `f` as it arrives (a reader that reduces objects keeps only
/// what it needs, never the whole list); the list's resourceVersion.
pub async fn each_page<K>(
    api: &Api<K>,
    mut lp: ListParams,
    mut f: impl FnMut(Vec<K>),
) -> Result<String, kube::Error>
where
    K: kube::Resource + Clone + DeserializeOwned + Debug,
{
    lp.limit = lp.limit.or(Some(PAGE_SIZE));
    let mut rv = String::new();
    loop {
        let page = api.list(&lp).await?;
        rv = page.metadata.resource_version.clone().unwrap_or(rv);
        let more = advance(&mut lp, &page.metadata);
        f(page.items);
        if !more {
            return Ok(rv);
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
