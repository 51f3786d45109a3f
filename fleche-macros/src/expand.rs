//! The expansion of `#[fleche]`.
//!
//! ```text
//! #[fleche] fn square(x: u64) -> u64 { x * x }
//! ```
//! becomes the function itself (now cached), a hidden function that takes a
//! `force` flag (so `rerun` can reach the body), a hidden `static` with the
//! function's identity, and an empty `enum square {}` whose associated
//! functions are the helpers: `digest`, `contains`, `load`, `rerun`,
//! `query`, `spec`. An enum with no variants lives only in the type
//! namespace, so it does not clash with the function, and unlike a module it
//! needs no `super::` paths: it works for functions declared inside a block
//! (a test, a doctest) whose argument types are local to that block.

use proc_macro2::{Span, TokenStream};
use quote::{ToTokens, format_ident, quote, quote_spanned};
use syn::spanned::Spanned;
use syn::{
    FnArg, GenericArgument, GenericParam, Ident, ItemFn, Pat, PathArguments, ReturnType, Type,
};

use crate::options::{Isolate, Options};
use crate::register;

/// One argument of the function.
struct Arg {
    ident: Ident,
    ty: Type,
    /// Left out of the key (`ignore(...)`).
    ignored: bool,
}

pub(crate) fn expand(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let mut options = Options::default();
    let parser = syn::meta::parser(|meta| options.parse(meta));
    syn::parse::Parser::parse2(parser, attr)?;
    let func = match syn::parse2::<syn::Item>(item.clone()) {
        Ok(syn::Item::Fn(func)) => func,
        Ok(other) => {
            let (what, span) = item_kind(&other);
            return Err(syn::Error::new(
                span,
                format!("#[fleche] goes on a function (`fn` or `async fn`), not on {what}"),
            ));
        }
        // Not an item (for instance a method with `self`, which parses only
        // as an `ItemFn` with a receiver): parse it as a function to report
        // what is wrong with it.
        Err(_) => syn::parse2::<ItemFn>(item).map_err(|e| {
            syn::Error::new(
                e.span(),
                "#[fleche] goes on a function (`fn` or `async fn`)",
            )
        })?,
    };
    check_signature(&func)?;
    let args = arguments(&func, &options)?;
    Ok(generate(&func, &args, &options))
}

/// What an item that is not a function is, for the error, and where to
/// point: its keyword.
fn item_kind(item: &syn::Item) -> (&'static str, Span) {
    use syn::Item;
    match item {
        Item::Struct(i) => ("a struct", i.struct_token.span),
        Item::Enum(i) => ("an enum", i.enum_token.span),
        Item::Union(i) => ("a union", i.union_token.span),
        Item::Trait(i) => ("a trait", i.trait_token.span),
        Item::Impl(i) => (
            "an impl block (put it on a free function)",
            i.impl_token.span,
        ),
        Item::Mod(i) => ("a module", i.mod_token.span),
        Item::Const(i) => ("a const", i.const_token.span),
        Item::Static(i) => ("a static", i.static_token.span),
        Item::Type(i) => ("a type alias", i.type_token.span),
        Item::Use(i) => ("a use declaration", i.use_token.span),
        other => ("this item", other.span()),
    }
}

fn check_signature(func: &ItemFn) -> syn::Result<()> {
    let sig = &func.sig;
    if let Some(c) = &sig.constness {
        return Err(syn::Error::new(
            c.span(),
            "#[fleche] cannot cache a `const fn`",
        ));
    }
    if let Some(u) = &sig.unsafety {
        return Err(syn::Error::new(
            u.span(),
            "#[fleche] does not support `unsafe fn`",
        ));
    }
    if let Some(abi) = &sig.abi {
        return Err(syn::Error::new(
            abi.span(),
            "#[fleche] does not support `extern` functions",
        ));
    }
    if let Some(v) = &sig.variadic {
        return Err(syn::Error::new(
            v.span(),
            "#[fleche] does not support variadic functions",
        ));
    }
    if let ReturnType::Type(_, ty) = &sig.output
        && let Type::ImplTrait(t) = &**ty
    {
        return Err(syn::Error::new_spanned(
            t,
            "#[fleche] needs a concrete return type to store and load, not `impl Trait`",
        ));
    }
    Ok(())
}

fn arguments(func: &ItemFn, options: &Options) -> syn::Result<Vec<Arg>> {
    let mut args = Vec::new();
    for input in &func.sig.inputs {
        match input {
            FnArg::Receiver(r) => {
                return Err(syn::Error::new_spanned(
                    r,
                    "#[fleche] does not support methods: `self` has no stable identity to key on; \
                     make it a free function that takes the value as an argument",
                ));
            }
            FnArg::Typed(pt) => {
                let Pat::Ident(pi) = &*pt.pat else {
                    return Err(syn::Error::new_spanned(
                        &pt.pat,
                        "arguments of a #[fleche] function need plain names (they name the argument in the key); \
                         destructure inside the body instead",
                    ));
                };
                if pi.by_ref.is_some() || pi.subpat.is_some() {
                    return Err(syn::Error::new_spanned(
                        pi,
                        "arguments of a #[fleche] function need plain names (no `ref` or `@` patterns)",
                    ));
                }
                let ident = pi.ident.clone();
                let ignored = options.ignore.contains(&ident);
                args.push(Arg {
                    ident,
                    ty: (*pt.ty).clone(),
                    ignored,
                });
            }
        }
    }
    for ignored in &options.ignore {
        if !args.iter().any(|a| a.ident == *ignored) {
            return Err(syn::Error::new(
                ignored.span(),
                format!("`ignore({ignored})`: the function has no argument `{ignored}`"),
            ));
        }
    }
    Ok(args)
}

/// The return type, and the type stored: the `T` of a `Result<T, E>`
/// (only `Ok` is cached), else the return type itself.
fn return_types(func: &ItemFn) -> (Type, Type, bool) {
    let ret: Type = match &func.sig.output {
        ReturnType::Default => syn::parse_quote!(()),
        ReturnType::Type(_, ty) => (**ty).clone(),
    };
    if let Type::Path(tp) = &ret
        && let Some(last) = tp.path.segments.last()
        && last.ident == "Result"
        && let PathArguments::AngleBracketed(ab) = &last.arguments
        && let Some(GenericArgument::Type(ok)) = ab.args.first()
    {
        return (ret.clone(), ok.clone(), true);
    }
    (ret.clone(), ret, false)
}

/// `::<T, N>` for calling the hidden function, unless an argument is
/// `impl Trait` (then the caller cannot name the type parameters).
fn turbofish(func: &ItemFn) -> TokenStream {
    let has_impl_arg = func
        .sig
        .inputs
        .iter()
        .any(|a| matches!(a, FnArg::Typed(pt) if matches!(&*pt.ty, Type::ImplTrait(_))));
    let params: Vec<TokenStream> = func
        .sig
        .generics
        .params
        .iter()
        .filter_map(|p| match p {
            GenericParam::Type(t) => Some(t.ident.to_token_stream()),
            GenericParam::Const(c) => Some(c.ident.to_token_stream()),
            GenericParam::Lifetime(_) => None,
        })
        .collect();
    if has_impl_arg || params.is_empty() {
        quote!()
    } else {
        quote!(::<#(#params),*>)
    }
}

/// Key entries for the generic parameters: `parse::<u8>("300")` and
/// `parse::<u16>("300")` are different calls even though their arguments
/// are equal. A type parameter `T` enters the key as a pseudo-argument
/// named `<T>` whose value is `std::any::type_name::<T>()`; a const
/// parameter `N` as `<N>` with its value. Lifetimes do not matter.
fn generic_params_in_key(func: &ItemFn, rt: &TokenStream) -> Vec<TokenStream> {
    func.sig
        .generics
        .params
        .iter()
        .filter_map(|p| match p {
            GenericParam::Type(t) => {
                let (id, name) = (&t.ident, format!("<{}>", t.ident));
                Some(quote!((#name, #rt::arg_digest(::core::any::type_name::<#id>()))))
            }
            GenericParam::Const(c) => {
                let (id, name) = (&c.ident, format!("<{}>", c.ident));
                Some(quote!((#name, #rt::arg_digest(&#id))))
            }
            GenericParam::Lifetime(_) => None,
        })
        .collect()
}

/// The spans of the first and last tokens of `tokens`: tokens spanned at
/// these two make the compiler underline all of `tokens` (a single span
/// would cover only the first token on stable).
fn first_last_spans(tokens: &impl ToTokens) -> (Span, Span) {
    let mut iter = tokens.to_token_stream().into_iter();
    let first = iter.next().map_or_else(Span::call_site, |t| t.span());
    let last = iter.last().map_or(first, |t| t.span());
    (first, last)
}

/// `tokens` with every token spanned at `span` (for paths built from
/// `crate = "..."`, whose tokens would otherwise point at the attribute).
fn respan(tokens: &impl ToTokens, span: Span) -> TokenStream {
    tokens
        .to_token_stream()
        .into_iter()
        .map(|mut t| {
            if let proc_macro2::TokenTree::Group(g) = &t {
                let mut group = proc_macro2::Group::new(g.delimiter(), respan(&g.stream(), span));
                group.set_span(span);
                t = group.into();
            }
            t.set_span(span);
            t
        })
        .collect()
}

fn generate(func: &ItemFn, args: &[Arg], options: &Options) -> TokenStream {
    let krate = &options.krate;
    let rt = quote!(#krate::__private);
    let vis = &func.vis;
    let attrs = &func.attrs;
    let sig = &func.sig;
    let fn_name = &sig.ident;
    let is_async = sig.asyncness.is_some();
    let (generics, where_clause) = (&sig.generics, &sig.generics.where_clause);
    let (ret, stored, is_result) = return_types(func);
    let strategy = if is_result {
        quote!(#rt::OkOnly)
    } else {
        quote!(#rt::Always)
    };

    let hidden = format_ident!("__fleche_{}", fn_name);
    let spec = format_ident!("__FLECHE_SPEC_{}", fn_name);
    let call_generics = turbofish(func);

    let all_idents: Vec<&Ident> = args.iter().map(|a| &a.ident).collect();
    let all_types: Vec<&Type> = args.iter().map(|a| &a.ty).collect();
    let keyed: Vec<&Arg> = args.iter().filter(|a| !a.ignored).collect();
    let keyed_idents: Vec<&Ident> = keyed.iter().map(|a| &a.ident).collect();
    // Borrowed in the helpers: `&(impl A + B)` needs the parentheses.
    let keyed_refs: Vec<TokenStream> = keyed
        .iter()
        .map(|a| match &a.ty {
            ty @ (Type::ImplTrait(_) | Type::TraitObject(_)) => quote!(&(#ty)),
            ty => quote!(&#ty),
        })
        .collect();
    let n_keyed = keyed.len();

    // Each argument's digest, spanned at the argument's type so that a type
    // that is not `Serialize` is reported there, once: the value passed to
    // `arg_digest` is `&*__fleche_arg` with `&` spanned at the type's first
    // token and `__fleche_arg` at its last, so the compiler underlines the
    // whole type, and every use (the call and each helper) gives the same
    // diagnostic, which the compiler then reports only once.
    let digest_of = |by_ref: bool| -> Vec<TokenStream> {
        keyed
            .iter()
            .map(|a| {
                let id = &a.ident;
                let name = id.to_string();
                let (first, last) = first_last_spans(&a.ty);
                let value = if by_ref { quote!(#id) } else { quote!(&#id) };
                let tmp = Ident::new("__fleche_arg", last);
                let deref = quote_spanned!(first=> &*);
                let rt = respan(&rt, first);
                let call = quote_spanned!(first=> #rt::arg_digest(#deref #tmp));
                quote!((#name, { let #tmp = #value; #call }))
            })
            .collect()
    };
    let type_params = generic_params_in_key(func, &rt);
    let n_keyed = n_keyed + type_params.len();
    let digests: Vec<TokenStream> = digest_of(false)
        .into_iter()
        .chain(type_params.iter().cloned())
        .collect();
    let digests_by_ref: Vec<TokenStream> = digest_of(true).into_iter().chain(type_params).collect();

    let name_expr = match &options.name {
        Some(lit) => quote!(#lit),
        None => {
            let n = fn_name.to_string();
            quote!(::core::concat!(::core::module_path!(), "::", #n))
        }
    };
    let version = options.version.unwrap_or(0);
    let code = options.hash_code.then(|| {
        let mut stripped = func.clone();
        stripped.attrs.retain(|a| !a.path().is_ident("fleche"));
        let digest = blake3::hash(stripped.to_token_stream().to_string().as_bytes());
        let bytes = digest.as_bytes().iter();
        quote!(.with_code([#(#bytes),*]))
    });
    let isolate = match options.isolate {
        Isolate::No => quote!(),
        Isolate::Scratch => quote!(.with_isolate(#rt::Isolate::Scratch)),
        Isolate::Chdir => quote!(.with_isolate(#rt::Isolate::Chdir)),
    };

    let block = &func.block;
    // The calls that need the result to be storable are spanned at the
    // return type, so that a type that is not `Serialize + DeserializeOwned`
    // is reported there rather than at the attribute.
    let (ret_first, ret_last) = first_last_spans(&ret);
    let rt_ret = respan(&rt, ret_first);
    let strategy_ret = respan(&strategy, ret_last);
    let (run, await_) = if is_async {
        (
            quote_spanned!(ret_first=> #rt_ret::call_async::<#ret, #strategy_ret, _, #n_keyed>(&#spec, __fleche_args, __fleche_force, async move #block).await),
            quote!(.await),
        )
    } else {
        (
            quote_spanned!(ret_first=> #rt_ret::call_blocking::<#ret, #strategy_ret, #n_keyed>(&#spec, __fleche_args, __fleche_force, move || -> #ret #block)),
            quote!(),
        )
    };
    let asyncness = &sig.asyncness;

    // The public function keeps its signature and attributes.
    let mut public_sig = sig.clone();
    public_sig.inputs.iter_mut().for_each(|a| {
        if let FnArg::Typed(pt) = a
            && let Pat::Ident(pi) = &mut *pt.pat
        {
            pi.mutability = None;
        }
    });
    let hidden_inputs = sig.inputs.iter();

    let (stored_first, _) = first_last_spans(&stored);
    let rt_stored = respan(&rt, stored_first);
    let (load_sig, contains_sig, load_body, contains_body) = if is_async {
        (
            quote!(async fn load),
            quote!(async fn contains),
            quote_spanned!(stored_first=> #rt_stored::load::<#stored, #n_keyed>(&#spec, [#(#digests_by_ref),*]).await),
            quote!(#rt::contains::<#n_keyed>(&#spec, [#(#digests_by_ref),*]).await),
        )
    } else {
        (
            quote!(fn load),
            quote!(fn contains),
            quote_spanned!(stored_first=> #rt_stored::block_on(#rt_stored::load::<#stored, #n_keyed>(&#spec, [#(#digests_by_ref),*]))),
            quote!(#rt::block_on(#rt::contains::<#n_keyed>(&#spec, [#(#digests_by_ref),*]))),
        )
    };
    let fn_doc = format!(
        "Helpers for the cached function `{fn_name}`: its key, its stored results, recomputation."
    );
    // Registered by name, so a bound call can travel to a worker process.
    let registration = register::registrable(func).then(|| {
        register::registration(&register::Registered {
            func,
            args: args.iter().map(|a| (&a.ident, &a.ty)).collect(),
            ret: ret.clone(),
            name: name_expr.clone(),
            rt: rt.clone(),
            // Spanned at the return type, like the call: a result type
            // that cannot be stored is reported there.
            lookup: Some(
                quote_spanned!(ret_first=> #rt_ret::lookup::<#ret, #strategy_ret, #n_keyed>(&#spec, [#(#digests_by_ref),*])),
            ),
        })
    });

    quote! {
        #(#attrs)*
        #vis #public_sig {
            #hidden #call_generics(#(#all_idents,)* false) #await_
        }

        #[doc(hidden)]
        #[allow(non_upper_case_globals)]
        #vis static #spec: #rt::FnSpec = #rt::FnSpec::new(#name_expr)
            .with_version(#version)
            .with_package(
                match ::core::option_env!("CARGO_PKG_NAME") { ::core::option::Option::Some(s) => s, ::core::option::Option::None => "" },
                match ::core::option_env!("CARGO_PKG_VERSION") { ::core::option::Option::Some(s) => s, ::core::option::Option::None => "" },
            )
            #code
            #isolate;

        #[doc(hidden)]
        #[allow(non_snake_case, clippy::too_many_arguments)]
        #vis #asyncness fn #hidden #generics (#(#hidden_inputs,)* __fleche_force: bool) -> #ret #where_clause {
            #rt::prepare();
            let __fleche_args = [#(#digests),*];
            #run
        }

        #registration

        #[doc = #fn_doc]
        #[allow(non_camel_case_types)]
        #vis enum #fn_name {}

        #[allow(dead_code, clippy::too_many_arguments)]
        impl #fn_name {
            /// The call key of these arguments.
            ///
            /// # Panics
            /// If an argument's `Serialize` implementation fails.
            #vis fn digest #generics (#(#keyed_idents: #keyed_refs),*) -> #rt::Digest #where_clause {
                #rt::prepare();
                match #rt::key::<#n_keyed>(&#spec, [#(#digests_by_ref),*]) {
                    ::core::result::Result::Ok(d) => d,
                    ::core::result::Result::Err(e) => ::core::panic!("{}", e),
                }
            }

            /// Whether a result for these arguments is stored in the active cache.
            #vis #contains_sig #generics (#(#keyed_idents: #keyed_refs),*) -> ::core::result::Result<bool, #rt::Error> #where_clause {
                #rt::prepare();
                #contains_body
            }

            /// The stored result for these arguments in the active cache, without running the function.
            #vis #load_sig #generics (#(#keyed_idents: #keyed_refs),*) -> ::core::result::Result<::core::option::Option<#stored>, #rt::Error> #where_clause {
                #rt::prepare();
                #load_body
            }

            /// Runs the function even if a result is stored, and stores the new result.
            #vis #asyncness fn rerun #generics (#(#all_idents: #all_types),*) -> #ret #where_clause {
                #hidden #call_generics(#(#all_idents,)* true) #await_
            }

            /// A query for the stored calls of this function.
            #vis fn query() -> #rt::Query {
                #rt::query(&#spec)
            }

            /// The function's identity: name, version, code digest.
            #vis fn spec() -> &'static #rt::FnSpec {
                &#spec
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expand_str(attr: &str, item: &str) -> Result<String, String> {
        expand(attr.parse().unwrap(), item.parse().unwrap())
            .map(|t| t.to_string())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn expands_a_plain_function() {
        let out = expand_str("", "fn square(x: u64) -> u64 { x * x }").unwrap();
        assert!(out.contains("__fleche_square"), "{out}");
        assert!(out.contains("enum square"), "{out}");
        assert!(out.contains("Always"), "{out}");
    }

    #[test]
    fn result_functions_cache_only_ok() {
        let out = expand_str("", "fn f(x: u64) -> Result<u64, String> { Ok(x) }").unwrap();
        assert!(out.contains("OkOnly"), "{out}");
    }

    #[test]
    fn ignored_arguments_are_not_keyed() {
        let out = expand_str(
            "ignore(verbose)",
            "fn f(x: u64, verbose: bool) -> u64 { x }",
        )
        .unwrap();
        assert!(out.contains("\"x\""), "{out}");
        assert!(!out.contains("\"verbose\""), "{out}");
    }

    #[test]
    fn hash_code_depends_on_the_body() {
        let a = expand_str("hash_code", "fn f(x: u64) -> u64 { x + 1 }").unwrap();
        let b = expand_str("hash_code", "fn f(x: u64) -> u64 { x + 2 }").unwrap();
        let c = expand_str(
            "hash_code",
            "fn f(x: u64) -> u64 {\n  x + 1 // a comment\n}",
        )
        .unwrap();
        assert_ne!(a, b);
        assert_eq!(
            a, c,
            "formatting and comments do not change the code digest"
        );
    }

    #[test]
    fn unusual_signatures_expand_to_valid_items() {
        for item in [
            "fn f() -> u8 { 1 }",
            "fn f(x: u8,) -> u8 { x }",
            "fn f(x: impl A + B) -> u8 { 1 }",
            "async fn f() -> u8 { 1 }",
        ] {
            let out: TokenStream = expand(TokenStream::new(), item.parse().unwrap()).unwrap();
            if let Err(e) = syn::parse2::<syn::File>(out.clone()) {
                panic!("{item}: {e}\n{out}");
            }
        }
    }

    #[test]
    fn misuse_is_reported() {
        assert!(
            expand_str("bogus", "fn f() {}")
                .unwrap_err()
                .contains("unknown #[fleche] option `bogus`")
        );
        assert!(
            expand_str("version = 1, version = 2", "fn f() {}")
                .unwrap_err()
                .contains("twice")
        );
        assert!(
            expand_str("ignore(y)", "fn f(x: u8) {}")
                .unwrap_err()
                .contains("no argument `y`")
        );
        assert!(
            expand_str("", "fn f(&self) {}")
                .unwrap_err()
                .contains("methods")
        );
        assert!(
            expand_str("", "fn f((a, b): (u8, u8)) {}")
                .unwrap_err()
                .contains("plain names")
        );
        assert!(
            expand_str("isolate = \"x\"", "fn f() {}")
                .unwrap_err()
                .contains("scratch")
        );
        assert!(
            expand_str("", "const fn f() {}")
                .unwrap_err()
                .contains("const fn")
        );
        assert!(
            expand_str("", "struct S;")
                .unwrap_err()
                .contains("goes on a function")
        );
        assert!(
            expand_str("name = \"\"", "fn f() {}")
                .unwrap_err()
                .contains("empty")
        );
    }
}
