//! One serving child per GPU, each an NCCL rank on its device: the children inherit
//! this configuration's environment, so under an interposer every rank is one of its
//! tenants. No rank lives in the measuring process, so a rank that fails or hangs is
//! a child that answers with an error or is killed at its timeout, never a
//! collective this process waits on forever.

use crate::cuda::{Comm, Context, Nccl};
use crate::error::{Error, Result};
use crate::run::child::{self, Child, Held, Operation};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// How long a rank may take to answer one request: communicator set-up, or the
/// checked and timed collectives of one size.
pub const TIMEOUT: Duration = Duration::from_secs(180);

/// Rank 0's request for a fresh communicator id, whose bytes the others join with;
/// the id's bootstrap listener lives in that rank's process.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NewUniqueId;

impl Operation for NewUniqueId {
    const NAME: &'static str = "nccl-unique-id";
    type Reply = Vec<u8>;
    fn serve(self, _: &Context, _: &mut Held) -> Result<Vec<u8>> {
        Nccl::load()?.unique_id()
    }
}

/// Joins the communicator `id` names as `rank` of `nranks`, kept until the next join.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct JoinComm {
    pub id: Vec<u8>,
    pub nranks: usize,
    pub rank: usize,
}

/// A rank's communicator, kept between requests.
pub struct RankComm(pub Comm);

impl Operation for JoinComm {
    const NAME: &'static str = "nccl-join";
    type Reply = ();
    fn serve(self, ctx: &Context, held: &mut Held) -> Result<()> {
        ctx.make_current()?;
        held.keep(RankComm(Comm::join(
            Nccl::load()?,
            &self.id,
            self.nranks,
            self.rank,
        )?));
        Ok(())
    }
}

/// The communicator a rank joined last.
pub fn comm(held: &Held) -> Result<&Comm> {
    held.get::<RankComm>()
        .map(|c| &c.0)
        .ok_or_else(|| Error::Invalid("this rank has joined no communicator".into()))
}

/// The rank processes, one per device 0..n.
pub struct Ranks {
    children: Vec<Child>,
    /// Ranks of the communicator joined last.
    joined: usize,
}

impl Ranks {
    /// One serving child on each of the first `n` devices, each holding its context.
    pub fn start(n: usize) -> Result<Self> {
        let devices: Vec<i32> = (0..n as i32).collect();
        Ok(Self {
            children: child::spawn_servers_on(&devices)?,
            joined: 0,
        })
    }

    /// Forms a communicator of the first `n` ranks: rank 0 makes the id, and every
    /// rank joins at once (each join waits for the others).
    pub fn join(&mut self, n: usize) -> Result<()> {
        if n == 0 || n > self.children.len() {
            return Err(Error::Invalid(format!(
                "a communicator of {n} ranks among {} processes",
                self.children.len()
            )));
        }
        let id = self.children[0].call(&NewUniqueId, TIMEOUT)?;
        for (rank, child) in self.children[..n].iter_mut().enumerate() {
            child.send(&JoinComm {
                id: id.clone(),
                nranks: n,
                rank,
            })?;
        }
        for child in &mut self.children[..n] {
            child.reply::<()>(TIMEOUT)?;
        }
        self.joined = n;
        Ok(())
    }

    /// `request` of every rank of the communicator joined last, their replies in
    /// rank order; `of_rank` makes each rank's request from its rank.
    pub fn each<O: Operation>(&mut self, of_rank: impl Fn(usize) -> O) -> Result<Vec<O::Reply>> {
        let ranks = &mut self.children[..self.joined];
        for (rank, child) in ranks.iter_mut().enumerate() {
            child.send(&of_rank(rank))?;
        }
        ranks.iter_mut().map(|c| c.reply(TIMEOUT)).collect()
    }

    /// Ends every rank process together.
    pub fn end(self) {
        child::end_all(self.children);
    }
}
