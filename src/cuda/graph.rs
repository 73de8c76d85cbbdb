use super::{check, Stream};
use crate::error::Result;
use cudarc::driver::sys;

/// An instantiated CUDA graph: a captured sequence of launches replayed with one call,
/// the way serving engines cut per-token launch cost (LLM-004).
pub struct GraphExec {
    graph: sys::CUgraph,
    exec: sys::CUgraphExec,
}

impl GraphExec {
    /// Captures what `enqueue` puts on `stream` and instantiates it. Nothing runs
    /// during capture.
    pub fn capture(stream: &Stream, enqueue: impl FnOnce() -> Result<()>) -> Result<Self> {
        // SAFETY: stream is live; thread-local capture leaves other threads alone.
        check(
            unsafe {
                sys::cuStreamBeginCapture_v2(
                    stream.raw(),
                    sys::CUstreamCaptureMode::CU_STREAM_CAPTURE_MODE_THREAD_LOCAL,
                )
            },
            "cuStreamBeginCapture",
        )?;
        let enqueued = enqueue();
        let mut graph = std::ptr::null_mut();
        // SAFETY: ends the capture begun above, also when enqueue failed.
        let ended = check(
            unsafe { sys::cuStreamEndCapture(stream.raw(), &mut graph) },
            "cuStreamEndCapture",
        );
        enqueued?;
        ended?;
        let mut exec = std::ptr::null_mut();
        // SAFETY: graph is the live graph just captured.
        let instantiated = check(
            unsafe { sys::cuGraphInstantiateWithFlags(&mut exec, graph, 0) },
            "cuGraphInstantiate",
        );
        if let Err(e) = instantiated {
            // SAFETY: graph is live and not owned by anything else.
            let _ = unsafe { sys::cuGraphDestroy(graph) };
            return Err(e);
        }
        Ok(Self { graph, exec })
    }

    pub fn launch(&self, stream: &Stream) -> Result<()> {
        // SAFETY: exec and stream are live.
        check(
            unsafe { sys::cuGraphLaunch(self.exec, stream.raw()) },
            "cuGraphLaunch",
        )
    }
}

impl Drop for GraphExec {
    fn drop(&mut self) {
        // SAFETY: both were created in capture and are destroyed once.
        unsafe {
            let _ = sys::cuGraphExecDestroy(self.exec);
            let _ = sys::cuGraphDestroy(self.graph);
        }
    }
}
