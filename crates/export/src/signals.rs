//! The signals that stop an export: SIGINT, SIGTERM and SIGHUP (a closed terminal).

/// Waits for SIGINT, SIGTERM or SIGHUP; returns its name.
///
/// The signals are watched from the first poll on, not from the call.
/// Never returns where the signals cannot be watched.
pub async fn stop_signal() -> &'static str {
    use tokio::signal::unix::{signal, SignalKind};
    let watch = |kind: SignalKind| signal(kind).ok();
    let (mut int, mut term, mut hup) =
        (watch(SignalKind::interrupt()), watch(SignalKind::terminate()), watch(SignalKind::hangup()));
    async fn recv(s: &mut Option<tokio::signal::unix::Signal>) {
        match s {
            Some(s) => {
                s.recv().await;
            }
            None => std::future::pending().await,
        }
    }
    tokio::select! {
        () = recv(&mut int) => "SIGINT",
        () = recv(&mut term) => "SIGTERM",
        () = recv(&mut hup) => "SIGHUP",
    }
}
