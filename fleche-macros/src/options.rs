//! Parsing `#[fleche(...)]` options.

use syn::meta::ParseNestedMeta;
use syn::{Ident, LitInt, LitStr, Path};

/// How the body is isolated.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Isolate {
    No,
    Scratch,
    Chdir,
}

/// The options of one `#[fleche(...)]`.
pub(crate) struct Options {
    pub(crate) version: Option<u32>,
    pub(crate) name: Option<LitStr>,
    pub(crate) ignore: Vec<Ident>,
    pub(crate) hash_code: bool,
    pub(crate) isolate: Isolate,
    pub(crate) krate: Path,
    seen: Vec<String>,
}

impl Default for Options {
    fn default() -> Self {
        Self {
            version: None,
            name: None,
            ignore: Vec::new(),
            hash_code: false,
            isolate: Isolate::No,
            krate: syn::parse_quote!(::fleche),
            seen: Vec::new(),
        }
    }
}

const KNOWN: &str = "version = N, name = \"...\", ignore(arg, ...), hash_code, isolate, isolate = \"chdir\", crate = \"path\"";

impl Options {
    /// Reads one option; called by `syn::meta::parser` for each.
    pub(crate) fn parse(&mut self, meta: ParseNestedMeta<'_>) -> syn::Result<()> {
        let Some(ident) = meta.path.get_ident().map(Ident::to_string) else {
            return Err(meta.error(format!(
                "unknown #[fleche] option; expected one of: {KNOWN}"
            )));
        };
        if self.seen.contains(&ident) {
            return Err(meta.error(format!("the #[fleche] option `{ident}` is given twice")));
        }
        self.seen.push(ident.clone());
        match ident.as_str() {
            "version" => {
                let lit: LitInt = meta.value()?.parse()?;
                self.version = Some(lit.base10_parse()?);
            }
            "name" => {
                let lit: LitStr = meta.value()?.parse()?;
                if lit.value().is_empty() {
                    return Err(syn::Error::new(
                        lit.span(),
                        "the name of a #[fleche] function cannot be empty",
                    ));
                }
                self.name = Some(lit);
            }
            "ignore" => meta.parse_nested_meta(|arg| {
                let id = arg
                    .path
                    .get_ident()
                    .cloned()
                    .ok_or_else(|| arg.error("expected an argument name"))?;
                self.ignore.push(id);
                Ok(())
            })?,
            "hash_code" => self.hash_code = true,
            "isolate" => self.isolate = parse_isolate(&meta)?,
            "crate" => {
                let lit: LitStr = meta.value()?.parse()?;
                self.krate = lit.parse()?;
            }
            _ => {
                return Err(meta.error(format!(
                    "unknown #[fleche] option `{ident}`; expected one of: {KNOWN}"
                )));
            }
        }
        Ok(())
    }
}

fn parse_isolate(meta: &ParseNestedMeta<'_>) -> syn::Result<Isolate> {
    if !meta.input.peek(syn::Token![=]) {
        return Ok(Isolate::Scratch);
    }
    let lit: LitStr = meta.value()?.parse()?;
    match lit.value().as_str() {
        "scratch" => Ok(Isolate::Scratch),
        "chdir" => Ok(Isolate::Chdir),
        other => Err(syn::Error::new(
            lit.span(),
            format!(
                "the #[fleche] option `isolate` takes no value (a scratch directory), \
                 \"scratch\" or \"chdir\"; not {other:?}"
            ),
        )),
    }
}
