//! The signals a service is asked to stop with.

/// Resolves when the process is asked to stop: SIGTERM (what Kubernetes, systemd and
/// docker send) or SIGINT (ctrl-c), whichever comes first. Elsewhere than Unix, ctrl-c.
///
/// Tie it to a graceful shutdown with [`Pool::shutdown_on_signal`](crate::Pool::shutdown_on_signal),
/// or select on it beside the service's own server.
///
/// ```no_run
/// # async fn serve(pool: skein::Pool) -> std::io::Result<()> {
/// use std::time::Duration;
///
/// skein::shutdown_signal().await?;
/// let report = pool.shutdown(Duration::from_secs(20)).await;
/// println!("{} finished, {} cancelled", report.finished, report.cancelled);
/// # Ok(()) }
/// ```
///
/// # Errors
///
/// The I/O error of a handler the OS would not install.
pub async fn shutdown_signal() -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let mut term = signal(SignalKind::terminate())?;
        let mut interrupt = signal(SignalKind::interrupt())?;
        tokio::select! {
            _ = term.recv() => {}
            _ = interrupt.recv() => {}
        }
        Ok(())
    }
    #[cfg(not(unix))]
    {
        tokio::signal::ctrl_c().await
    }
}
