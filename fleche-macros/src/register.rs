//! Registering functions by name, so a call can travel to a worker process
//! of the same program (`fleche_core::Task`). `#[fleche]` registers the
//! functions it caches; `#[fleche::register]` registers a plain function
//! (a pipeline step that calls cached helpers).

use proc_macro2::TokenStream;
use quote::{ToTokens, quote};
use syn::{FnArg, Ident, ItemFn, LitStr, Pat, Path, ReturnType, Type};

/// Whether `func` can be registered: no type or const parameters (a
/// registration names one function, not a family), and arguments and
/// result owned (`'static`), since they travel boxed as `Any`.
pub(crate) fn registrable(func: &ItemFn) -> bool {
    let sig = &func.sig;
    let borrowed = |ty: &Type| {
        let text = ty.to_token_stream().to_string();
        ["&", "'", "impl ", "dyn ", "Self"]
            .iter()
            .any(|t| text.contains(t))
    };
    sig.generics.params.is_empty()
        && sig.inputs.iter().all(|a| match a {
            FnArg::Typed(pt) => !borrowed(&pt.ty),
            FnArg::Receiver(_) => false,
        })
        && match &sig.output {
            ReturnType::Default => true,
            ReturnType::Type(_, ty) => !borrowed(ty),
        }
}

/// What a registration needs to know of a function.
pub(crate) struct Registered<'a> {
    pub(crate) func: &'a ItemFn,
    pub(crate) args: Vec<(&'a Ident, &'a Type)>,
    pub(crate) ret: Type,
    /// The name that travels.
    pub(crate) name: TokenStream,
    /// The facade's `__private`.
    pub(crate) rt: TokenStream,
    /// A closure body giving the stored result, for a cached function: it
    /// sees each argument by reference under its own name.
    pub(crate) lookup: Option<TokenStream>,
}

/// The `inventory` submission for a function.
pub(crate) fn registration(r: &Registered<'_>) -> TokenStream {
    let Registered {
        func,
        args,
        ret,
        name,
        rt,
        lookup,
    } = r;
    let fn_name = &func.sig.ident;
    let idents: Vec<&Ident> = args.iter().map(|(i, _)| *i).collect();
    let types: Vec<&Type> = args.iter().map(|(_, t)| *t).collect();
    let tuple = quote!((#(#types,)*));
    let call = if func.sig.asyncness.is_some() {
        quote!(#rt::block_on(#fn_name(#(#idents),*)))
    } else {
        quote!(#fn_name(#(#idents),*))
    };
    let lookup = match lookup {
        Some(body) => quote! {
            ::core::option::Option::Some(|__fleche_args| {
                let (#(#idents,)*) = __fleche_args
                    .downcast_ref::<#tuple>()
                    .expect("fleche: the registered argument types");
                let _ = (#(&#idents,)*);
                let __fleche_found: ::core::option::Option<#ret> = #body?;
                ::core::result::Result::Ok(__fleche_found.map(|r| {
                    ::std::boxed::Box::new(r) as ::std::boxed::Box<dyn ::core::any::Any>
                }))
            })
        },
        None => quote!(::core::option::Option::None),
    };
    quote! {
        #rt::inventory::submit! {
            #rt::Registration {
                name: #name,
                type_name: || ::core::any::type_name_of_val(&#fn_name),
                types: || (
                    ::core::any::TypeId::of::<#tuple>(),
                    ::core::any::TypeId::of::<#ret>(),
                ),
                call: |__fleche_args| {
                    let (#(#idents,)*) = *__fleche_args
                        .downcast::<#tuple>()
                        .expect("fleche: the registered argument types");
                    ::std::boxed::Box::new(#call)
                },
                lookup: #lookup,
                prepare: #rt::prepare,
            }
        }
    }
}

/// `#[fleche::register]` (options: `name = "..."`, `crate = "path"`).
pub(crate) fn expand_register(attr: TokenStream, item: TokenStream) -> syn::Result<TokenStream> {
    let mut name: Option<LitStr> = None;
    let mut krate: Path = syn::parse_quote!(::fleche);
    let parser = syn::meta::parser(|meta| {
        if meta.path.is_ident("name") {
            name = Some(meta.value()?.parse()?);
            Ok(())
        } else if meta.path.is_ident("crate") {
            let lit: LitStr = meta.value()?.parse()?;
            krate = lit.parse()?;
            Ok(())
        } else {
            Err(meta.error(
                "unknown #[fleche::register] option; expected name = \"...\" or crate = \"path\"",
            ))
        }
    });
    syn::parse::Parser::parse2(parser, attr)?;
    let func: ItemFn = syn::parse2(item)
        .map_err(|e| syn::Error::new(e.span(), "#[fleche::register] goes on a function"))?;
    if !registrable(&func) {
        return Err(syn::Error::new_spanned(
            &func.sig,
            "#[fleche::register] needs a function without type parameters whose arguments and \
             result are owned ('static): they travel to another process",
        ));
    }
    let mut args = Vec::new();
    for input in &func.sig.inputs {
        if let FnArg::Typed(pt) = input
            && let Pat::Ident(pi) = &*pt.pat
        {
            args.push((&pi.ident, &*pt.ty));
        } else {
            return Err(syn::Error::new_spanned(
                input,
                "arguments of a #[fleche::register] function need plain names",
            ));
        }
    }
    let fn_name = func.sig.ident.to_string();
    let name = match &name {
        Some(lit) => quote!(#lit),
        None => quote!(::core::concat!(::core::module_path!(), "::", #fn_name)),
    };
    let ret = match &func.sig.output {
        ReturnType::Default => syn::parse_quote!(()),
        ReturnType::Type(_, ty) => (**ty).clone(),
    };
    let registration = registration(&Registered {
        func: &func,
        args,
        ret,
        name,
        rt: quote!(#krate::__private),
        lookup: None,
    });
    Ok(quote! {
        #func
        #registration
    })
}
