//! Heartbeats: every node runs an agent that answers pings, and pings the agent of
//! every ready peer each period. A peer that misses enough pings in a row has its
//! session torn down, so calls in flight to a hung node fail instead of waiting
//! forever (TCP alone never notices a stopped process or a cut-off host).

use std::time::Duration;

use super::events::{Events, NodeEvent};
use super::sessions::Sessions;
use ractor::rpc::CallResult;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort, SpawnErr};

/// The process group every node's agent joins.
const AGENTS_GROUP: &str = "skein.nodes";

/// The agent of each node answers heartbeats.
#[derive(Debug, ractor_cluster::RactorClusterMessage)]
pub(crate) enum AgentMsg {
    /// A heartbeat; answered at once.
    #[rpc]
    Ping(RpcReplyPort<u64>),
    /// The named peer is shutting down: its session's end is a clean leave, not a
    /// failure. Answered once noted, so the peer knows before it closes the session.
    #[rpc]
    Leaving(String, RpcReplyPort<u64>),
}

struct Agent;

impl Actor for Agent {
    type Msg = AgentMsg;
    type State = Sessions;
    type Arguments = Sessions;

    async fn pre_start(
        &self,
        _: ActorRef<AgentMsg>,
        sessions: Sessions,
    ) -> Result<Sessions, ActorProcessingErr> {
        Ok(sessions)
    }

    async fn handle(
        &self,
        _: ActorRef<AgentMsg>,
        message: AgentMsg,
        sessions: &mut Sessions,
    ) -> Result<(), ActorProcessingErr> {
        match message {
            AgentMsg::Ping(reply) => {
                let _ = reply.send(0);
            }
            AgentMsg::Leaving(peer, reply) => {
                tracing::info!(%peer, "skein node leaving");
                sessions.leaving(&peer);
                let _ = reply.send(0);
            }
        }
        Ok(())
    }
}

/// Starts a node's agent, in the group where its peers look for it.
pub(crate) async fn start_agent(sessions: Sessions) -> Result<ActorRef<AgentMsg>, SpawnErr> {
    let (agent, _) = Actor::spawn(None, Agent, sessions).await?;
    ractor::pg::join(AGENTS_GROUP.to_string(), vec![agent.get_cell()]);
    Ok(agent)
}

/// Tells the agent of every ready peer that this node, listening on `addr`, is
/// leaving, and waits (each at most `within`) until each has noted it.
pub(crate) async fn announce_leaving(sessions: &Sessions, addr: &str, within: Duration) {
    call_peers(sessions, within, |reply| {
        AgentMsg::Leaving(addr.to_string(), reply)
    })
    .await;
}

/// Waits (each at most `within`) until every ready peer's agent answers a ping. A
/// session delivers in order, so by then each peer has applied every process-group
/// change this node sent before it: a pool whose workers left their group knows its
/// peers no longer route to them.
pub(crate) async fn sync_with_peers(sessions: &Sessions, within: Duration) {
    call_peers(sessions, within, AgentMsg::Ping).await;
}

/// Calls the agent of every ready peer with `message`, each for at most `within`.
async fn call_peers(
    sessions: &Sessions,
    within: Duration,
    message: impl Fn(RpcReplyPort<u64>) -> AgentMsg + Clone,
) {
    let agents = ractor::pg::get_members(&AGENTS_GROUP.to_string());
    let ready: Vec<u64> = sessions
        .lock()
        .iter()
        .filter(|(_, s)| s.ready)
        .map(|(id, _)| *id)
        .collect();
    let called = agents
        .into_iter()
        .filter(|a| !a.get_id().is_local() && ready.contains(&a.get_id().node()))
        .map(|agent| {
            let message = message.clone();
            async move {
                let agent = ActorRef::<AgentMsg>::from(agent);
                let _ = agent.call(message, Some(within)).await;
            }
        });
    futures::future::join_all(called).await;
}

/// Pings every ready peer each period; a peer that misses `misses` in a row has its
/// session killed, which fails every call in flight to it at once.
pub(crate) async fn beat(sessions: Sessions, events: Events, period: Duration, misses: u32) {
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        let agents = ractor::pg::get_members(&AGENTS_GROUP.to_string());
        let ready: Vec<u64> = sessions
            .lock()
            .iter()
            .filter(|(_, s)| s.ready)
            .map(|(id, _)| *id)
            .collect();
        // A peer that said it is leaving may stop answering before its session ends.
        let ready: Vec<u64> = ready
            .into_iter()
            .filter(|id| sessions.lock().get(id).is_some_and(|s| !s.leaving))
            .collect();
        let pings = ready.into_iter().map(|node_id| {
            let agent = agents
                .iter()
                .find(|a| !a.get_id().is_local() && a.get_id().node() == node_id)
                .map(|a| ActorRef::<AgentMsg>::from(a.clone()));
            async move {
                let answered = match agent {
                    Some(agent) => matches!(
                        agent.call(AgentMsg::Ping, Some(period)).await,
                        Ok(CallResult::Success(_))
                    ),
                    // Its agent has not synced yet; not a miss.
                    None => true,
                };
                (node_id, answered)
            }
        });
        for (node_id, answered) in futures::future::join_all(pings).await {
            let mut sessions = sessions.lock();
            let Some(session) = sessions.get_mut(&node_id) else {
                continue;
            };
            if answered {
                session.missed = 0;
                continue;
            }
            session.missed += 1;
            if session.missed >= misses {
                tracing::error!(peer = %session.name, missed = session.missed, "skein node unresponsive: tearing its session down");
                events.send(NodeEvent::Unresponsive {
                    peer: session.name.clone(),
                });
                session.actor.kill();
            }
        }
    }
}
