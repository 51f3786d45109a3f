//! The `#[fleche]` attribute. Use it through the `fleche` crate, which
//! documents it; this crate is a thin shell over [`expand`](mod@expand).

#![forbid(unsafe_code)]

mod expand;
mod options;

use proc_macro::TokenStream;

/// Caches a function's results persistently, keyed by the digests of its
/// arguments. See the `fleche` crate for the options and helpers.
#[proc_macro_attribute]
pub fn fleche(attr: TokenStream, item: TokenStream) -> TokenStream {
    expand::expand(attr.into(), item.into())
        .unwrap_or_else(syn::Error::into_compile_error)
        .into()
}
