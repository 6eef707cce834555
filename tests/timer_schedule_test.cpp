// The proxy's TimerSchedule (proxy/timer_schedule.hpp): due now, due at a
// time on the timer's own clock, or never; and how long the loop may sleep.
#include "timer_schedule.hpp"

#include <gtest/gtest.h>

using courier::proxy::Clock;
using courier::proxy::clock_of;
using courier::proxy::Timer;
using courier::proxy::TimerClock;
using courier::proxy::TimerSchedule;

namespace {

constexpr Timer kAll[] = {Timer::delayed_release, Timer::ttl_expiry, Timer::silence_check, Timer::room_retry,
                          Timer::dedup_prune};
constexpr uint64_t kLongest = 500;  // the loop's sleep when nothing is due sooner

Clock at(uint64_t wall_ms, uint64_t steady_ms) {
  Clock c;
  c.wall_ms = wall_ms;
  c.steady_ms = steady_ms;
  return c;
}

// A schedule with nothing to wait for, so one timer at a time can be looked at.
TimerSchedule idle() {
  TimerSchedule s;
  for (Timer t : kAll) s.set_never(t);
  return s;
}

}  // namespace

TEST(TimerSchedule, EveryTimerStartsDueNowSoTheFirstTurnLooks) {
  const TimerSchedule s;
  for (Timer t : kAll) EXPECT_TRUE(s.is_due(t, at(0, 0))) << static_cast<int>(t);
  EXPECT_EQ(s.ms_until_next(at(1'700'000'000'000, 50'000), kLongest, std::nullopt, false), 0u);
}

TEST(TimerSchedule, DelaysAndTtlsReadTheWallClockTheProxysOwnWaitsTheSteadyOne) {
  EXPECT_EQ(clock_of(Timer::delayed_release), TimerClock::wall);
  EXPECT_EQ(clock_of(Timer::ttl_expiry), TimerClock::wall);
  EXPECT_EQ(clock_of(Timer::silence_check), TimerClock::steady);
  EXPECT_EQ(clock_of(Timer::room_retry), TimerClock::steady);
  EXPECT_EQ(clock_of(Timer::dedup_prune), TimerClock::steady);
}

TEST(TimerSchedule, DueAtIsDueOnceItsOwnClockReadsThatTime) {
  TimerSchedule s = idle();
  s.set_due_at(Timer::ttl_expiry, 1000);
  s.set_due_at(Timer::silence_check, 1000);
  EXPECT_FALSE(s.is_due(Timer::ttl_expiry, at(999, 0)));
  EXPECT_TRUE(s.is_due(Timer::ttl_expiry, at(1000, 0)));
  EXPECT_TRUE(s.is_due(Timer::ttl_expiry, at(1001, 0)));
  EXPECT_FALSE(s.is_due(Timer::silence_check, at(0, 999)));
  EXPECT_TRUE(s.is_due(Timer::silence_check, at(0, 1000)));
}

TEST(TimerSchedule, TheOtherClockPassingTheTimeDoesNotMakeATimerDue) {
  TimerSchedule s = idle();
  s.set_due_at(Timer::delayed_release, 1000);
  s.set_due_at(Timer::room_retry, 1000);
  const Clock wall_late_steady_early = at(5000, 10);
  EXPECT_TRUE(s.is_due(Timer::delayed_release, wall_late_steady_early));
  EXPECT_FALSE(s.is_due(Timer::room_retry, wall_late_steady_early));
  const Clock wall_early_steady_late = at(10, 5000);
  EXPECT_FALSE(s.is_due(Timer::delayed_release, wall_early_steady_late));
  EXPECT_TRUE(s.is_due(Timer::room_retry, wall_early_steady_late));
}

TEST(TimerSchedule, NeverIsNotDueAtAnyReadingUntilSetAgain) {
  TimerSchedule s = idle();
  const Clock far = at(UINT64_MAX - 1, UINT64_MAX - 1);
  for (Timer t : kAll) EXPECT_FALSE(s.is_due(t, far)) << static_cast<int>(t);
  s.set_due_now(Timer::dedup_prune);
  EXPECT_TRUE(s.is_due(Timer::dedup_prune, at(0, 0)));
}

TEST(TimerSchedule, BringingForwardKeepsTheEarliestAndNowStaysNow) {
  TimerSchedule s = idle();
  s.bring_forward(Timer::delayed_release, 3000);  // from never
  EXPECT_FALSE(s.is_due(Timer::delayed_release, at(2999, 0)));
  EXPECT_TRUE(s.is_due(Timer::delayed_release, at(3000, 0)));
  s.bring_forward(Timer::delayed_release, 2000);  // sooner: taken
  EXPECT_TRUE(s.is_due(Timer::delayed_release, at(2000, 0)));
  s.bring_forward(Timer::delayed_release, 4000);  // later: ignored
  EXPECT_TRUE(s.is_due(Timer::delayed_release, at(2000, 0)));
  s.set_due_now(Timer::ttl_expiry);
  s.bring_forward(Timer::ttl_expiry, 4000);  // still looked at on the next turn
  EXPECT_TRUE(s.is_due(Timer::ttl_expiry, at(0, 0)));
}

TEST(TimerSchedule, WithNothingDueTheLoopSleepsTheLongestItMay) {
  const TimerSchedule s = idle();
  EXPECT_EQ(s.ms_until_next(at(1000, 1000), kLongest, std::nullopt, true), kLongest);
}

TEST(TimerSchedule, TheSleepEndsAtTheEarliestDueTimeEachOnItsOwnClock) {
  const Clock now = at(1'700'000'000'000, 80'000);
  TimerSchedule s = idle();
  s.set_due_at(Timer::delayed_release, now.wall_ms + 300);
  EXPECT_EQ(s.ms_until_next(now, kLongest, std::nullopt, false), 300u);
  s.set_due_at(Timer::ttl_expiry, now.wall_ms + 200);
  EXPECT_EQ(s.ms_until_next(now, kLongest, std::nullopt, false), 200u);
  s.set_due_at(Timer::silence_check, now.steady_ms + 100);
  EXPECT_EQ(s.ms_until_next(now, kLongest, std::nullopt, false), 100u);
  EXPECT_EQ(s.ms_until_next(now, kLongest, now.steady_ms + 40, false), 40u);  // an ack deadline
  EXPECT_EQ(s.ms_until_next(now, 30, now.steady_ms + 40, false), 30u);       // never past the longest
}

TEST(TimerSchedule, ATimerDueNowOrAlreadyPastMeansNoSleep) {
  const Clock now = at(10'000, 10'000);
  TimerSchedule s = idle();
  s.set_due_at(Timer::ttl_expiry, 9'000);
  EXPECT_EQ(s.ms_until_next(now, kLongest, std::nullopt, false), 0u);
  s = idle();
  s.set_due_now(Timer::silence_check);
  EXPECT_EQ(s.ms_until_next(now, kLongest, std::nullopt, false), 0u);
  s = idle();
  EXPECT_EQ(s.ms_until_next(now, kLongest, uint64_t{9'000}, false), 0u);  // an overdue ack
}

TEST(TimerSchedule, TheRoomRetryCountsOnlyWhileAQueueWaitsForRoom) {
  const Clock now = at(10'000, 10'000);
  TimerSchedule s = idle();
  s.set_due_at(Timer::room_retry, now.steady_ms + 100);
  EXPECT_EQ(s.ms_until_next(now, kLongest, std::nullopt, false), kLongest);
  EXPECT_EQ(s.ms_until_next(now, kLongest, std::nullopt, true), 100u);
}

TEST(TimerSchedule, TheDedupPruneNeverShortensTheSleep) {
  const Clock now = at(10'000, 10'000);
  TimerSchedule s = idle();
  s.set_due_now(Timer::dedup_prune);
  EXPECT_TRUE(s.is_due(Timer::dedup_prune, now));
  EXPECT_EQ(s.ms_until_next(now, kLongest, std::nullopt, true), kLongest);
}
