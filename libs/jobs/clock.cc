#include "libs/jobs/clock.h"

namespace protectogram::jobs {

Clock& DefaultClock() {
  static RealClock* clock = new RealClock();
  return *clock;
}

}  // namespace protectogram::jobs
