//! The `#[skein::routine]` attribute. Use it through `skein` (feature `macros`, on by
//! default), which re-exports it as `skein::routine`: the code it writes names
//! `::skein`, so this crate is of no use on its own.
#![warn(missing_docs, rust_2018_idioms)]
#![forbid(unsafe_code)]

use proc_macro::TokenStream;
use proc_macro2::{Span, TokenStream as TokenStream2};
use quote::{format_ident, quote, quote_spanned, ToTokens};
use syn::ext::IdentExt;
use syn::parse::{Parse, ParseStream};
use syn::punctuated::Punctuated;
use syn::spanned::Spanned;
use syn::visit::Visit;
use syn::{
    FnArg, GenericArgument, Ident, ItemFn, LitStr, PathArguments, ReturnType, Token, Type,
    TypeParamBound,
};

/// Writes a routine from a function: a unit struct named after it, its
/// `skein::Routine` impl (or `skein::StreamRoutine`, with `stream`), and a
/// registration that adds it to every pool at `build()`.
///
/// # What it writes
///
/// For `async fn add(x: i64, y: i64) -> i64` in module `demo`:
///
/// - **the struct** `Add`: the fn's name in UpperCamelCase, with the fn's visibility.
///   It is the type callers name: `pool.call::<Add>((1, 2))`, `skein::call::<Add>(..)`.
/// - **the fn itself**, untouched: it stays callable in-process (in a unit test, say),
///   and the struct's `run` calls it.
/// - **`NAME`**: `"demo::add"`, that is `concat!(module_path!(), "::", "add")`: stable
///   while the fn keeps its name and module. `#[skein::routine(name = "demo.add")]`
///   sets it instead, for a name that must not move with the code (pools on other
///   nodes dispatch by it).
/// - **`Args`**: the arguments, by their types: `()` for none, the type itself for
///   one (`async fn fib(n: u32)` is called `pool.call::<Fib>(15)`), a tuple for two or
///   more (`pool.call::<Add>((1, 2))`).
/// - **state**: an argument of type `State<T>` (written `State<T>` or
///   `skein::State<T>`; it is recognized by that name) is not one of the `Args`: the
///   routine fetches the state of type `T` from the pool whose worker runs it (see
///   `PoolBuilder::state`), and the fn gets it in that place. `async fn find(id: u64,
///   db: State<Db>)` is called `pool.call::<Find>(7)`. A pool without that state
///   fails the call with `DispatchError::Panicked`, whose message names the routine
///   and the type: a routine that cannot fail has no error to carry it, and a
///   missing state is a pool built wrong, not something to handle call by call.
/// - **`Output` and `Error`**: a fn returning `Result<T, E>` has `Output = T` and
///   `Error = E` (the caller gets an `Err(e)` as `DispatchError::Routine(e)`); a fn
///   returning anything else, or nothing, has that as its `Output` and
///   `Error = skein::Never`. The return type is read as written, so a `Result` alias
///   with one parameter (`io::Result<T>`) is refused: write `Result<T, E>` out.
/// - **a registration**: every pool adds every marked routine linked into the
///   program when it is built, beside the ones given to `PoolBuilder::routine`. A
///   marked routine registered explicitly too is the same routine, not a duplicate;
///   another routine under its name fails the build with
///   `BuildError::DuplicateRoutine`. (A routine in a library the program links but
///   never refers to may be dropped by the linker with the rest of that library:
///   register such a one explicitly.)
///
/// # Streams
///
/// `#[skein::routine(stream)]` on a plain (not `async`) fn returning
/// `impl Stream<Item = Result<T, E>> + Send + 'static` writes a `StreamRoutine` with
/// `Item = T`, `Error = E`; an item type that is not a `Result` is the `Item`, with
/// `Error = skein::Never`. The pool pulls it with `pool.stream::<Squares>(args)`.
/// `stream` and `name = "..."` combine: `#[skein::routine(stream, name = "demo.sq")]`.
///
/// # What it refuses
///
/// Each with an error at the offending code that says what to write instead: a fn
/// that is not `async` (or, with `stream`, one that is); generic parameters, a
/// `where` clause, `impl Trait` or reference arguments (`&str`: take `String`), and
/// `self`, because args are decoded on a worker into owned values of one type; an
/// argument, output or error type without the serde and `Send` impls a routine needs;
/// a stream without `+ Send + 'static`; an argument of a type named `State<...>`
/// that is not `skein::State`.
#[proc_macro_attribute]
pub fn routine(attr: TokenStream, item: TokenStream) -> TokenStream {
    let options = syn::parse_macro_input!(attr as Options);
    let function = syn::parse_macro_input!(item as ItemFn);
    match expand(options, &function) {
        Ok(tokens) => tokens.into(),
        // The fn is kept beside the error, so its own body is still checked and its
        // callers do not report it missing on top of the real mistake.
        Err(error) => {
            let error = error.to_compile_error();
            quote!(#function #error).into()
        }
    }
}

/// What the attribute was given: `stream` and `name = "..."`, in any order.
struct Options {
    stream: bool,
    name: Option<LitStr>,
}

impl Parse for Options {
    fn parse(input: ParseStream<'_>) -> syn::Result<Options> {
        let mut options = Options {
            stream: false,
            name: None,
        };
        let metas = Punctuated::<syn::Meta, Token![,]>::parse_terminated(input)?;
        for meta in metas {
            match &meta {
                syn::Meta::Path(path) if path.is_ident("stream") => options.stream = true,
                syn::Meta::NameValue(pair) if pair.path.is_ident("name") => {
                    let syn::Expr::Lit(syn::ExprLit {
                        lit: syn::Lit::Str(name),
                        ..
                    }) = &pair.value
                    else {
                        return Err(syn::Error::new_spanned(
                            &pair.value,
                            "the routine's name is a string literal: `name = \"demo.add\"`",
                        ));
                    };
                    if name.value().is_empty() {
                        return Err(syn::Error::new_spanned(
                            name,
                            "a routine's name cannot be empty: callers dispatch by it",
                        ));
                    }
                    options.name = Some(name.clone());
                }
                _ => {
                    return Err(syn::Error::new_spanned(
                        meta,
                        "`#[skein::routine]` takes `stream` and `name = \"...\"`, \
                         as in `#[skein::routine(stream, name = \"demo.squares\")]`",
                    ))
                }
            }
        }
        Ok(options)
    }
}

fn expand(options: Options, function: &ItemFn) -> syn::Result<TokenStream2> {
    let signature = &function.sig;
    let fn_name = &signature.ident;
    check_signature(&options, function)?;
    let struct_name = struct_name(fn_name)?;

    // The fn's arguments in order, each with a local name (mixed-site, so it never
    // meets the user's): the ones that travel make the `Args`, a `State<T>` is
    // fetched from the pool instead.
    let mut arg_names = Vec::new();
    let mut arg_types = Vec::new();
    let mut travelling = Vec::new();
    let mut states = Vec::new();
    for (i, input) in signature.inputs.iter().enumerate() {
        match input {
            FnArg::Receiver(receiver) => {
                return Err(syn::Error::new_spanned(
                    receiver,
                    "a routine is a free function: it cannot take `self`",
                ))
            }
            FnArg::Typed(arg) => {
                check_owned(&arg.ty)?;
                let name = format_ident!("arg{}", i, span = Span::mixed_site());
                if is_state(&arg.ty) {
                    states.push((name.clone(), (*arg.ty).clone()));
                } else {
                    travelling.push(name.clone());
                    arg_types.push((*arg.ty).clone());
                }
                arg_names.push(name);
            }
        }
    }
    let args = format_ident!("args", span = Span::mixed_site());
    let (args_type, unpack) = match arg_types.as_slice() {
        [] => (quote!(()), quote!(let () = #args;)),
        [only] => {
            let name = &travelling[0];
            (quote!(#only), quote!(let #name = #args;))
        }
        many => (
            quote!((#(#many,)*)),
            quote!(let (#(#travelling,)*) = #args;),
        ),
    };
    // A missing state panics, with a message naming the routine and the type: the
    // routine's error type may be `Never`, so it cannot carry it, and the caller gets
    // the panic as the typed `DispatchError::Panicked` (logged at ERROR on the worker).
    // The type is the one the user wrote, so a `State` that is not skein's is refused
    // there, in words that say why (`FromPool`).
    let fetch_states: Vec<TokenStream2> = states
        .iter()
        .map(|(name, ty)| {
            quote_spanned! {ty.span()=>
                let #name = <#ty as ::skein::__private::FromPool>::from_pool(Self::NAME);
            }
        })
        .collect();
    let unpack = quote!(#unpack #(#fetch_states)*);
    let call = quote!(#fn_name(#(#arg_names),*));

    let name = match &options.name {
        Some(name) => name.to_token_stream(),
        None => {
            let fn_name = fn_name.unraw().to_string();
            quote!(::core::concat!(::core::module_path!(), "::", #fn_name))
        }
    };

    let vis = &function.vis;
    let cfgs: Vec<_> = function
        .attrs
        .iter()
        .filter(|attr| attr.path().is_ident("cfg"))
        .collect();
    // Linked to the fn it calls (by `fn@`, so a module of the same name is no
    // ambiguity); a raw identifier is named plainly, as a link could not name it.
    let plain = fn_name.unraw().to_string();
    let fn_ref = if *fn_name == plain {
        format!("[`{plain}`](fn@{plain})")
    } else {
        format!("`{plain}`")
    };
    let doc = format!(
        "The routine {fn_ref}, as the type a pool calls: `pool.call::<{struct_name}>(args)`."
    );
    let doc_stream = format!(
        "The streaming routine {fn_ref}, as the type a pool pulls: \
         `pool.stream::<{struct_name}>(args)`."
    );

    let arg_checks = arg_types
        .iter()
        .map(|ty| quote_spanned!(ty.span()=> ::skein::__private::IsArg<#ty>));

    let (doc, body) = if options.stream {
        let item = stream_item(&signature.output)?;
        let (item_type, error_type, stream) = match split_result(&item)? {
            Some((t, e)) => (t, e, call),
            None => (item, never(), quote!(::skein::__private::infallible(#call))),
        };
        let checks = checks(arg_checks, &item_type, &error_type);
        // `#unpack` fetches the states in `run` itself: a stream's `run` is called on
        // its first step, inside the dispatch frame the states are read from.
        let body = quote! {
            #checks
            impl ::skein::StreamRoutine for #struct_name {
                const NAME: &'static str = #name;
                type Args = #args_type;
                type Item = #item_type;
                type Error = #error_type;
                fn run(#args: Self::Args) -> impl ::skein::__private::Stream<
                    Item = ::core::result::Result<Self::Item, Self::Error>,
                > + ::core::marker::Send + 'static {
                    #unpack
                    #stream
                }
            }
            ::skein::__private::inventory::submit! {
                ::skein::__private::Registration::stream::<#struct_name>()
            }
        };
        (doc_stream, body)
    } else {
        let output = match &signature.output {
            ReturnType::Default => None,
            ReturnType::Type(_, ty) => Some((**ty).clone()),
        };
        let split = match &output {
            Some(ty) => split_result(ty)?,
            None => None,
        };
        let returns_result = split.is_some();
        let (output_type, error_type, result) = match split {
            Some((t, e)) => (t, e, quote!(#call.await)),
            None => (
                output.unwrap_or_else(|| syn::parse_quote!(())),
                never(),
                quote!(::core::result::Result::Ok(#call.await)),
            ),
        };
        // A routine with no state returns the fn's own future when it can (one state
        // machine fewer); one with a state fetches it inside the future, because the
        // dispatch frame it is read from is set around the future's polls, not `run`.
        let run_body = if states.is_empty() && returns_result {
            quote!(#unpack #call)
        } else {
            quote!(async move { #unpack #result })
        };
        let checks = checks(arg_checks, &output_type, &error_type);
        let body = quote! {
            #checks
            impl ::skein::Routine for #struct_name {
                const NAME: &'static str = #name;
                type Args = #args_type;
                type Output = #output_type;
                type Error = #error_type;
                fn run(#args: Self::Args) -> impl ::core::future::Future<
                    Output = ::core::result::Result<Self::Output, Self::Error>,
                > + ::core::marker::Send {
                    #run_body
                }
            }
            ::skein::__private::inventory::submit! {
                ::skein::__private::Registration::call::<#struct_name>()
            }
        };
        (doc, body)
    };

    Ok(quote! {
        #function

        #(#cfgs)*
        #[doc = #doc]
        #[derive(::core::fmt::Debug, ::core::clone::Clone, ::core::marker::Copy)]
        #vis struct #struct_name;

        #(#cfgs)*
        const _: () = {
            #body
        };
    })
}

/// A struct whose fields name each type the fn names where the user wrote it, in a
/// wrapper that asks of it what a routine needs. It comes before the impl, so a type
/// that cannot travel is reported first, at that type, in words about routines, and
/// serde's bare bounds that the impl then misses come after it.
fn checks(
    arg_checks: impl Iterator<Item = TokenStream2>,
    output: &Type,
    error: &Type,
) -> TokenStream2 {
    let output_check = quote_spanned!(output.span()=> ::skein::__private::IsOutput<#output>);
    let error_check = quote_spanned!(error.span()=> ::skein::__private::IsError<#error>);
    let checks = format_ident!("Checks", span = Span::mixed_site());
    quote! {
        #[allow(dead_code)]
        struct #checks(#(#arg_checks,)* #output_check, #error_check);
    }
}

fn never() -> Type {
    syn::parse_quote!(::skein::Never)
}

/// The fn's shape: `async` for a call, not for a stream, and no generics.
fn check_signature(options: &Options, function: &ItemFn) -> syn::Result<()> {
    let signature = &function.sig;
    match (options.stream, &signature.asyncness) {
        (false, None) => {
            return Err(syn::Error::new_spanned(
                signature.fn_token,
                "`#[skein::routine]` needs an `async fn`: write `async fn`. \
                 (For a routine that returns a stream, write \
                 `#[skein::routine(stream)]` on a plain `fn` that returns \
                 `impl Stream<Item = Result<T, E>> + Send + 'static`.)",
            ))
        }
        (true, Some(asyncness)) => {
            return Err(syn::Error::new_spanned(
                asyncness,
                "`#[skein::routine(stream)]` needs a plain `fn` that returns \
                 `impl Stream<Item = Result<T, E>> + Send + 'static`: remove `async`",
            ))
        }
        _ => {}
    }
    if let Some(unsafety) = &signature.unsafety {
        return Err(syn::Error::new_spanned(
            unsafety,
            "a routine cannot be `unsafe`: a pool calls it with no one to uphold its contract",
        ));
    }
    if !signature.generics.params.is_empty() || signature.generics.where_clause.is_some() {
        return Err(syn::Error::new_spanned(
            &signature.generics,
            "a routine cannot be generic: its name stands for one fn with one set of \
             argument types, so write the concrete types",
        ));
    }
    if let Some(variadic) = &signature.variadic {
        return Err(syn::Error::new_spanned(
            variadic,
            "a routine cannot be variadic",
        ));
    }
    Ok(())
}

/// `add` -> `Add`, `get_user_by_id` -> `GetUserById`.
fn struct_name(fn_name: &Ident) -> syn::Result<Ident> {
    let name = fn_name.unraw().to_string();
    let camel: String = name
        .split('_')
        .filter(|part| !part.is_empty())
        .map(|part| {
            let mut chars = part.chars();
            let first = chars.next().map(|c| c.to_uppercase().collect::<String>());
            first.unwrap_or_default() + chars.as_str()
        })
        .collect();
    if camel == name || camel.is_empty() {
        return Err(syn::Error::new_spanned(
            fn_name,
            format!(
                "name the fn in snake_case: `#[skein::routine]` writes a struct named \
                 after it in UpperCamelCase beside it, and `{name}` leaves no name for it"
            ),
        ));
    }
    Ok(Ident::new(&camel, fn_name.span()))
}

/// `State<T>` (by its last path segment, as `skein::State<T>` or an imported
/// `State<T>`): the pool's state, fetched on the worker rather than sent.
fn is_state(ty: &Type) -> bool {
    let Type::Path(path) = ty else {
        return false;
    };
    let Some(last) = path.path.segments.last() else {
        return false;
    };
    path.qself.is_none()
        && last.ident == "State"
        && matches!(&last.arguments, PathArguments::AngleBracketed(args) if args.args.len() == 1)
}

/// Refuses a type that borrows: a worker decodes args into owned values.
fn check_owned(ty: &Type) -> syn::Result<()> {
    struct Borrows(Option<syn::Error>);
    impl<'ast> Visit<'ast> for Borrows {
        fn visit_type_reference(&mut self, reference: &'ast syn::TypeReference) {
            if self.0.is_some() {
                return;
            }
            let instead = match &*reference.elem {
                Type::Path(path) if path.path.is_ident("str") => "`String`".to_string(),
                Type::Slice(slice) => {
                    format!("`Vec<{}>`", slice.elem.to_token_stream())
                }
                elem => format!("`{}`", elem.to_token_stream()),
            };
            self.0 = Some(syn::Error::new_spanned(
                reference,
                format!(
                    "a routine's arguments must be owned: they are decoded from \
                     MessagePack on a worker, with nothing there to borrow from. \
                     Take {instead} instead"
                ),
            ));
        }
        fn visit_type_impl_trait(&mut self, impl_trait: &'ast syn::TypeImplTrait) {
            if self.0.is_none() {
                self.0 = Some(syn::Error::new_spanned(
                    impl_trait,
                    "a routine's arguments need concrete types: a worker decodes them \
                     into one type, so write it instead of `impl Trait`",
                ));
            }
        }
    }
    let mut borrows = Borrows(None);
    borrows.visit_type(ty);
    borrows.0.map_or(Ok(()), Err)
}

/// `Result<T, E>` -> `Some((T, E))`; any other type -> `None`. A `Result` with
/// another number of parameters is an alias that hides the error type, refused.
fn split_result(ty: &Type) -> syn::Result<Option<(Type, Type)>> {
    let ty = match ty {
        Type::Group(group) => &*group.elem,
        Type::Paren(paren) => &*paren.elem,
        ty => ty,
    };
    let Type::Path(path) = ty else {
        return Ok(None);
    };
    let Some(last) = path.path.segments.last() else {
        return Ok(None);
    };
    if last.ident != "Result" || path.qself.is_some() {
        return Ok(None);
    }
    let types: Vec<&Type> = match &last.arguments {
        PathArguments::AngleBracketed(args) => args
            .args
            .iter()
            .filter_map(|arg| match arg {
                GenericArgument::Type(ty) => Some(ty),
                _ => None,
            })
            .collect(),
        _ => Vec::new(),
    };
    match types.as_slice() {
        [t, e] => Ok(Some(((*t).clone(), (*e).clone()))),
        _ => Err(syn::Error::new_spanned(
            ty,
            "write the routine's result as `Result<T, E>`, with both types: the macro \
             reads the error type from it, and an alias like `io::Result<T>` hides it",
        )),
    }
}

/// The `Item` of `impl Stream<Item = ...> + Send + 'static`, checking the bounds.
fn stream_item(output: &ReturnType) -> syn::Result<Type> {
    const SHAPE: &str = "a streaming routine returns \
                         `impl Stream<Item = Result<T, E>> + Send + 'static`";
    let ty = match output {
        ReturnType::Type(_, ty) => &**ty,
        ReturnType::Default => {
            return Err(syn::Error::new(
                Span::call_site(),
                format!("{SHAPE}: write that return type"),
            ))
        }
    };
    let Type::ImplTrait(impl_trait) = ty else {
        return Err(syn::Error::new_spanned(
            ty,
            format!("{SHAPE}: write the return type in that form, so the macro can read the item and error types"),
        ));
    };
    let mut item = None;
    let (mut send, mut stat) = (false, false);
    for bound in &impl_trait.bounds {
        match bound {
            TypeParamBound::Trait(bound) => {
                let Some(last) = bound.path.segments.last() else {
                    continue;
                };
                if last.ident == "Send" {
                    send = true;
                } else if last.ident == "Stream" {
                    if let PathArguments::AngleBracketed(args) = &last.arguments {
                        item = args.args.iter().find_map(|arg| match arg {
                            GenericArgument::AssocType(assoc) if assoc.ident == "Item" => {
                                Some(assoc.ty.clone())
                            }
                            _ => None,
                        });
                    }
                }
            }
            TypeParamBound::Lifetime(lifetime) if lifetime.ident == "static" => stat = true,
            _ => {}
        }
    }
    let Some(item) = item else {
        return Err(syn::Error::new_spanned(
            ty,
            format!("{SHAPE}: name the item type with `Stream<Item = ...>`"),
        ));
    };
    if !send || !stat {
        return Err(syn::Error::new_spanned(
            ty,
            format!(
                "{SHAPE}: add `+ Send + 'static`, because the stream lives on a \
                 worker's task between the caller's pulls"
            ),
        ));
    }
    Ok(item)
}
