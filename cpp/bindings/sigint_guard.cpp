#include "sigint_guard.h"

#include "bricks/errors.h"

namespace bricks {

SigintGuard::SigintGuard(Graph& graph, bool on) : graph_(graph), on_(on) {
  if (!on_) return;
  struct sigaction ours{};
  ours.sa_handler = [](int) { request_stop(); };  // async-signal-safe: one atomic store
  sigemptyset(&ours.sa_mask);
  clear_stop();  // a request left by an earlier Ctrl-C is not this call's
  graph_.set_stoppable(true);
  sigaction(SIGINT, &ours, &old_);
}

SigintGuard::~SigintGuard() { restore(); }

void SigintGuard::finish() {
  if (restore()) throw Interrupted("interrupted");
}

bool SigintGuard::restore() {
  if (!on_) return false;
  on_ = false;
  sigaction(SIGINT, &old_, nullptr);
  graph_.set_stoppable(false);
  return clear_stop();
}

}  // namespace bricks
