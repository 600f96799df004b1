//! Patch application: JSON merge patch (RFC 7386), a strategic-merge subset, JSON patch (RFC 6902).

use serde_json::Value;

/// RFC 7386 merge patch: objects merge recursively, `null` deletes, everything else replaces.
pub(crate) fn merge_patch(target: &mut Value, patch: &Value) {
    let Value::Object(p) = patch else {
        *target = patch.clone();
        return;
    };
    if !target.is_object() {
        *target = Value::Object(Default::default());
    }
    if let Value::Object(t) = target {
        for (k, v) in p {
            if v.is_null() {
                t.remove(k);
            } else {
                merge_patch(t.entry(k.clone()).or_insert(Value::Null), v);
            }
        }
    }
}

/// Strategic merge patch, simplified: like a merge patch but `$`-directives (`$patch`,
/// `$retainKeys`, `$setElementOrder/...`, `$deleteFromPrimitiveList/...`) are dropped and lists
/// are replaced rather than merged by their patch merge key.
pub(crate) fn strategic_merge_patch(target: &mut Value, patch: &Value) {
    merge_patch(target, &strip_directives(patch));
}

fn strip_directives(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        other => other.clone(),
    }
}

fn unescape(tok: &str) -> String {
    tok.replace("~1", "/").replace("~0", "~")
}

fn split_pointer(path: &str) -> Result<Vec<String>, String> {
    if path.is_empty() {
        return Ok(Vec::new());
    }
    let rest = path
        .strip_prefix('/')
        .ok_or_else(|| format!("invalid JSON pointer {path:?}"))?;
    Ok(rest.split('/').map(unescape).collect())
}

fn parent_mut<'a>(root: &'a mut Value, toks: &[String]) -> Result<&'a mut Value, String> {
    let mut cur = root;
    for t in toks {
        cur = match cur {
            Value::Object(m) => m
                .get_mut(t)
                .ok_or_else(|| format!("path element {t:?} not found"))?,
            Value::Array(a) => {
                let i: usize = t
                    .parse()
                    .map_err(|_| format!("invalid array index {t:?}"))?;
                a.get_mut(i)
                    .ok_or_else(|| format!("array index {i} out of range"))?
            }
            _ => return Err(format!("cannot traverse into {t:?}")),
        };
    }
    Ok(cur)
}

fn get_at(root: &Value, path: &str) -> Result<Value, String> {
    root.pointer(path)
        .cloned()
        .ok_or_else(|| format!("path {path:?} not found"))
}

fn add_at(root: &mut Value, path: &str, value: Value) -> Result<(), String> {
    let toks = split_pointer(path)?;
    let Some((last, parents)) = toks.split_last() else {
        *root = value;
        return Ok(());
    };
    match parent_mut(root, parents)? {
        Value::Object(m) => {
            m.insert(last.clone(), value);
        }
        Value::Array(a) => {
            if last == "-" {
                a.push(value);
            } else {
                let i: usize = last
                    .parse()
                    .map_err(|_| format!("invalid array index {last:?}"))?;
                if i > a.len() {
                    return Err(format!("array index {i} out of range"));
                }
                a.insert(i, value);
            }
        }
        _ => return Err(format!("cannot add at {path:?}")),
    }
    Ok(())
}

fn remove_at(root: &mut Value, path: &str) -> Result<Value, String> {
    let toks = split_pointer(path)?;
    let (last, parents) = toks
        .split_last()
        .ok_or_else(|| "cannot remove the root".to_string())?;
    match parent_mut(root, parents)? {
        Value::Object(m) => m
            .remove(last)
            .ok_or_else(|| format!("path {path:?} not found")),
        Value::Array(a) => {
            let i: usize = last
                .parse()
                .map_err(|_| format!("invalid array index {last:?}"))?;
            if i >= a.len() {
                return Err(format!("array index {i} out of range"));
            }
            Ok(a.remove(i))
        }
        _ => Err(format!("cannot remove at {path:?}")),
    }
}

/// RFC 6902 JSON patch (add, remove, replace, move, copy, test).
pub(crate) fn json_patch(target: &mut Value, ops: &Value) -> Result<(), String> {
    let ops = ops.as_array().ok_or("a JSON patch must be an array")?;
    for op in ops {
        let kind = op["op"].as_str().ok_or("operation without \"op\"")?;
        let path = op["path"].as_str().ok_or("operation without \"path\"")?;
        match kind {
            "add" => add_at(target, path, op["value"].clone())?,
            "remove" => {
                remove_at(target, path)?;
            }
            "replace" => {
                remove_at(target, path)?;
                add_at(target, path, op["value"].clone())?;
            }
            "move" => {
                let from = op["from"].as_str().ok_or("move without \"from\"")?;
                let v = remove_at(target, from)?;
                add_at(target, path, v)?;
            }
            "copy" => {
                let from = op["from"].as_str().ok_or("copy without \"from\"")?;
                let v = get_at(target, from)?;
                add_at(target, path, v)?;
            }
            "test" => {
                if get_at(target, path)? != op["value"] {
                    return Err(format!("testing value {path} failed"));
                }
            }
            other => return Err(format!("unknown operation {other:?}")),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_patch_sets_and_deletes() {
        let mut v = json!({"spec": {"unschedulable": true, "podCIDR": "x"}});
        merge_patch(&mut v, &json!({"spec": {"unschedulable": null}}));
        assert_eq!(v, json!({"spec": {"podCIDR": "x"}}));
        merge_patch(
            &mut v,
            &json!({"spec": {"unschedulable": true}, "metadata": {"labels": {"a": "b"}}}),
        );
        assert_eq!(v["spec"]["unschedulable"], true);
        assert_eq!(v["metadata"]["labels"]["a"], "b");
    }

    #[test]
    fn strategic_drops_directives() {
        let mut v = json!({"spec": {"unschedulable": false}});
        strategic_merge_patch(
            &mut v,
            &json!({"$retainKeys": ["a"], "spec": {"unschedulable": true}}),
        );
        assert_eq!(v, json!({"spec": {"unschedulable": true}}));
    }

    #[test]
    fn json_patch_ops() {
        let mut v = json!({"spec": {"taints": [{"key": "a"}]}});
        json_patch(
            &mut v,
            &json!([
                {"op": "add", "path": "/spec/unschedulable", "value": true},
                {"op": "add", "path": "/spec/taints/-", "value": {"key": "b"}},
                {"op": "replace", "path": "/spec/taints/0/key", "value": "c"},
                {"op": "test", "path": "/spec/unschedulable", "value": true},
                {"op": "copy", "from": "/spec/taints/1", "path": "/spec/first"},
                {"op": "remove", "path": "/spec/taints/1"},
            ]),
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"spec": {"unschedulable": true, "taints": [{"key": "c"}], "first": {"key": "b"}}})
        );
        assert!(json_patch(
            &mut v,
            &json!([{"op": "test", "path": "/spec/unschedulable", "value": false}])
        )
        .is_err());
        assert!(json_patch(&mut v, &json!([{"op": "remove", "path": "/nope"}])).is_err());
    }
}
