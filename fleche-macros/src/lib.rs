//! The `#[fleche]` attribute. Use it through the `fleche` crate, which
//! documents it; this crate is a thin shell over its private `expand` module.

#![forbid(unsafe_code)]

mod expand;
mod options;
mod register;

use proc_macro::TokenStream;

/// Caches a function's results persistently, keyed by the digests of its
/// arguments. See the `fleche` crate for the options and helpers.
#[proc_macro_attribute]
pub fn fleche(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    match expand::expand(attr.into(), item.clone()) {
        Ok(tokens) => tokens.into(),
        // Keep the item as written next to the error, so that its callers
        // do not add "cannot find function" errors to the real one.
        Err(e) => {
            let mut tokens = e.into_compile_error();
            tokens.extend(item);
            tokens.into()
        }
    }
}

/// Registers a plain function by name, so that a call of it can travel to a
/// worker process of the same program as a `fleche::Task` (`#[fleche]`
/// registers the functions it caches by itself). For a pipeline step that
/// calls cached functions. See the `fleche` crate.
#[proc_macro_attribute]
pub fn register(attr: TokenStream, item: TokenStream) -> TokenStream {
    let item = proc_macro2::TokenStream::from(item);
    match register::expand_register(attr.into(), item.clone()) {
        Ok(tokens) => tokens.into(),
        Err(e) => {
            let mut tokens = e.into_compile_error();
            tokens.extend(item);
            tokens.into()
        }
    }
}
