//! The signals a service is asked to stop with.

use std::future::Future;

/// Listens, from this call on, for the process being asked to stop: SIGTERM (what
/// Kubernetes, systemd and docker send) or SIGINT (ctrl-c); the future resolves at the
/// first of them. Elsewhere than Unix, ctrl-c.
///
/// The handlers are installed by the call itself, not by the first poll: a signal that
/// comes between the call and the `.await` is not missed, and is no longer fatal.
///
/// Tie it to a graceful shutdown with [`Pool::shutdown_on_signal`](crate::Pool::shutdown_on_signal),
/// or select on it beside the service's own server.
///
/// ```no_run
/// # async fn serve(pool: skein::Pool) -> std::io::Result<()> {
/// use std::time::Duration;
///
/// skein::shutdown_signal()?.await;
/// let report = pool.shutdown(Duration::from_secs(20)).await;
/// println!("{} finished, {} cancelled", report.finished, report.cancelled);
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// The I/O error of a handler the OS would not install.
pub fn shutdown_signal() -> std::io::Result<impl Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        Ok(async move {
            tokio::select! {
                _ = term.recv() => {}
                _ = interrupt.recv() => {}
            }
        })
    }
    #[cfg(not(unix))]
    {
        Ok(async {
            let _ = tokio::signal::ctrl_c().await;
        })
    }
}
