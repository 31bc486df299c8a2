// Ctrl-C during a native training call. Python runs its SIGINT handler only between
// native calls, so for the call's duration our handler asks the graph to stop at its
// next block instead (graph.h: request_stop), and the call raises KeyboardInterrupt.
#pragma once
#include <csignal>

#include "bricks/graph.h"

namespace bricks {

class SigintGuard {
 public:
  // Does nothing unless `on` (Python's choice: the main thread, with the default
  // handler; the handler is process-wide and must not replace a user's own).
  SigintGuard(Graph& graph, bool on);
  // On every exit: Python's handler back, the graph no longer stoppable, and no stale
  // stop request left for the next call.
  ~SigintGuard();
  SigintGuard(const SigintGuard&) = delete;
  SigintGuard& operator=(const SigintGuard&) = delete;
  // After the call returned: restores as above, then throws Interrupted if a stop
  // arrived after the graph's last check (every step taken is whole).
  void finish();

 private:
  bool restore();  // whether a stop request was pending
  Graph& graph_;
  bool on_;
  struct sigaction old_{};
};

}  // namespace bricks
