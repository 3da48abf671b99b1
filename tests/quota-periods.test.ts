import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { dueRefill, nextPeriodStart, periodStart, quotaAsOf, type QuotaState } from '../src/keys/quota.js';

// The quota's refill calendar (src/keys/quota.ts), with fixed dates: periods aligned to UTC (top
// of the hour, midnight, the 1st of the month), whatever the month's length or the year.

const at = (iso: string) => new Date(iso);

describe('periodStart', () => {
  test('hour: the top of the hour that holds the moment', () => {
    assert.equal(periodStart('hour', at('2024-03-10T13:45:12.345Z')), '2024-03-10T13:00:00.000Z');
    assert.equal(periodStart('hour', at('2024-03-10T13:00:00.000Z')), '2024-03-10T13:00:00.000Z', 'a boundary starts its own period');
    assert.equal(periodStart('hour', at('2024-03-10T12:59:59.999Z')), '2024-03-10T12:00:00.000Z', 'a millisecond before is the period before');
    assert.equal(periodStart('hour', at('2024-03-10T00:30:00.000Z')), '2024-03-10T00:00:00.000Z');
    assert.equal(periodStart('hour', at('2024-03-10T23:59:59.999Z')), '2024-03-10T23:00:00.000Z');
  });

  test('day: midnight UTC of the day that holds the moment', () => {
    assert.equal(periodStart('day', at('2024-03-10T13:45:12.345Z')), '2024-03-10T00:00:00.000Z');
    assert.equal(periodStart('day', at('2024-03-10T00:00:00.000Z')), '2024-03-10T00:00:00.000Z');
    assert.equal(periodStart('day', at('2024-03-09T23:59:59.999Z')), '2024-03-09T00:00:00.000Z');
    assert.equal(periodStart('day', at('2024-02-29T18:00:00.000Z')), '2024-02-29T00:00:00.000Z', 'a leap day');
    assert.equal(periodStart('day', at('2023-12-31T23:59:59.999Z')), '2023-12-31T00:00:00.000Z');
  });

  test('day and hour are UTC, not the moment\'s local offset', () => {
    // 01:30 in UTC+02:00 is 23:30 UTC the day before.
    assert.equal(periodStart('day', at('2024-03-10T01:30:00+02:00')), '2024-03-09T00:00:00.000Z');
    assert.equal(periodStart('hour', at('2024-03-10T01:30:00+05:30')), '2024-03-09T20:00:00.000Z');
  });

  test('month: the 1st of the month that holds the moment, whatever its length', () => {
    assert.equal(periodStart('month', at('2024-03-10T13:45:12.345Z')), '2024-03-01T00:00:00.000Z');
    assert.equal(periodStart('month', at('2024-01-31T23:59:59.999Z')), '2024-01-01T00:00:00.000Z', 'Jan 31 is in January');
    assert.equal(periodStart('month', at('2024-02-01T00:00:00.000Z')), '2024-02-01T00:00:00.000Z', 'Feb 1 starts February');
    assert.equal(periodStart('month', at('2024-02-29T12:00:00.000Z')), '2024-02-01T00:00:00.000Z', 'a leap day');
    assert.equal(periodStart('month', at('2023-02-28T23:59:59.999Z')), '2023-02-01T00:00:00.000Z');
    assert.equal(periodStart('month', at('2024-04-30T23:00:00.000Z')), '2024-04-01T00:00:00.000Z', 'a 30-day month');
    assert.equal(periodStart('month', at('2023-12-31T23:59:59.999Z')), '2023-12-01T00:00:00.000Z');
    assert.equal(periodStart('month', at('2024-01-01T00:00:00.000Z')), '2024-01-01T00:00:00.000Z');
  });
});

describe('nextPeriodStart', () => {
  test('hour: the next top of the hour, across midnight, month and year ends', () => {
    assert.equal(nextPeriodStart('hour', '2024-03-10T13:00:00.000Z'), '2024-03-10T14:00:00.000Z');
    assert.equal(nextPeriodStart('hour', '2024-03-10T23:00:00.000Z'), '2024-03-11T00:00:00.000Z');
    assert.equal(nextPeriodStart('hour', '2024-02-29T23:00:00.000Z'), '2024-03-01T00:00:00.000Z');
    assert.equal(nextPeriodStart('hour', '2023-12-31T23:00:00.000Z'), '2024-01-01T00:00:00.000Z');
  });

  test('day: the next midnight, across month lengths, leap years and the year end', () => {
    assert.equal(nextPeriodStart('day', '2024-03-10T00:00:00.000Z'), '2024-03-11T00:00:00.000Z');
    assert.equal(nextPeriodStart('day', '2024-01-31T00:00:00.000Z'), '2024-02-01T00:00:00.000Z');
    assert.equal(nextPeriodStart('day', '2024-02-28T00:00:00.000Z'), '2024-02-29T00:00:00.000Z', '2024 is a leap year');
    assert.equal(nextPeriodStart('day', '2024-02-29T00:00:00.000Z'), '2024-03-01T00:00:00.000Z');
    assert.equal(nextPeriodStart('day', '2023-02-28T00:00:00.000Z'), '2023-03-01T00:00:00.000Z', '2023 is not');
    assert.equal(nextPeriodStart('day', '2100-02-28T00:00:00.000Z'), '2100-03-01T00:00:00.000Z', '2100 is not either');
    assert.equal(nextPeriodStart('day', '2000-02-28T00:00:00.000Z'), '2000-02-29T00:00:00.000Z', '2000 is');
    assert.equal(nextPeriodStart('day', '2024-04-30T00:00:00.000Z'), '2024-05-01T00:00:00.000Z');
    assert.equal(nextPeriodStart('day', '2023-12-31T00:00:00.000Z'), '2024-01-01T00:00:00.000Z');
  });

  test('month: the 1st of the next month, whatever the length of this one; December to January of the next year', () => {
    const firsts = [
      ['2024-01-01', '2024-02-01'],
      ['2024-02-01', '2024-03-01'],
      ['2023-02-01', '2023-03-01'],
      ['2024-03-01', '2024-04-01'],
      ['2024-04-01', '2024-05-01'],
      ['2024-08-01', '2024-09-01'],
      ['2024-12-01', '2025-01-01'],
      ['1999-12-01', '2000-01-01'],
    ];
    for (const [start, next] of firsts) {
      assert.equal(nextPeriodStart('month', `${start}T00:00:00.000Z`), `${next}T00:00:00.000Z`, start);
    }
  });

  test('a moment late in a long month refills on the 1st of the next, not past it', () => {
    // Jan 31 + "one month" would overflow into March; aligned periods never do.
    for (const moment of ['2024-01-31T23:59:59.999Z', '2023-01-31T12:00:00.000Z', '2024-03-31T00:00:00.000Z', '2024-05-31T18:00:00.000Z']) {
      const start = periodStart('month', at(moment));
      const next = new Date(moment);
      const expected = new Date(Date.UTC(next.getUTCFullYear(), next.getUTCMonth() + 1, 1)).toISOString();
      assert.equal(nextPeriodStart('month', start), expected, moment);
    }
  });

  test('every start lies inside the period it starts, and the next start is right after it ends', () => {
    const moments = ['2024-01-31T23:59:59.999Z', '2024-02-29T00:00:00.000Z', '2023-12-31T23:30:00.000Z', '2024-06-15T07:07:07.007Z'];
    for (const interval of ['hour', 'day', 'month'] as const) {
      for (const moment of moments) {
        const start = periodStart(interval, at(moment));
        const next = nextPeriodStart(interval, start);
        assert.ok(Date.parse(start) <= Date.parse(moment) && Date.parse(moment) < Date.parse(next), `${interval} ${moment}`);
        assert.equal(periodStart(interval, at(next)), next, `${interval}: the next start is aligned`);
        assert.equal(periodStart(interval, new Date(Date.parse(next) - 1)), start, `${interval}: one ms before it is still this period`);
      }
    }
  });
});

describe('dueRefill', () => {
  const hourly = (period: string | null, remaining = 0): QuotaState => ({ remaining, refill: { amount: 10, interval: 'hour' }, period });

  test('without refill nothing is ever due', () => {
    const none: QuotaState = { remaining: 0, refill: null, period: null };
    assert.equal(dueRefill(none, at('2024-03-10T13:45:00.000Z')), undefined);
    assert.equal(dueRefill({ ...none, period: '2000-01-01T00:00:00.000Z' }, at('2024-03-10T13:45:00.000Z')), undefined);
  });

  test('within the period counting down, nothing is due; from the next period on, a refill to the current one', () => {
    const quota = hourly('2024-03-10T13:00:00.000Z');
    assert.equal(dueRefill(quota, at('2024-03-10T13:00:00.000Z')), undefined);
    assert.equal(dueRefill(quota, at('2024-03-10T13:59:59.999Z')), undefined);
    assert.equal(dueRefill(quota, at('2024-03-10T14:00:00.000Z')), '2024-03-10T14:00:00.000Z');
    assert.equal(dueRefill(quota, at('2024-03-11T09:15:00.000Z')), '2024-03-11T09:00:00.000Z', 'many periods later: one refill, to the current period');
  });

  test('a period long past (as the tests set it) is due at once', () => {
    assert.equal(dueRefill(hourly('2000-01-01T00:00:00.000Z'), at('2024-03-10T13:45:00.000Z')), '2024-03-10T13:00:00.000Z');
  });

  test('no period yet: due, to the current one', () => {
    assert.equal(dueRefill(hourly(null), at('2024-03-10T13:45:00.000Z')), '2024-03-10T13:00:00.000Z');
  });

  test('a period ahead of this clock (another process\'s clock runs ahead) is not refilled again', () => {
    assert.equal(dueRefill(hourly('2024-03-10T14:00:00.000Z'), at('2024-03-10T13:59:59.000Z')), undefined);
  });

  test('daily and monthly, across month ends and leap days', () => {
    const daily: QuotaState = { remaining: 0, refill: { amount: 5, interval: 'day' }, period: '2024-02-28T00:00:00.000Z' };
    assert.equal(dueRefill(daily, at('2024-02-28T23:59:59.999Z')), undefined);
    assert.equal(dueRefill(daily, at('2024-02-29T00:00:00.000Z')), '2024-02-29T00:00:00.000Z');
    const monthly: QuotaState = { remaining: 0, refill: { amount: 5, interval: 'month' }, period: '2024-01-01T00:00:00.000Z' };
    assert.equal(dueRefill(monthly, at('2024-01-31T23:59:59.999Z')), undefined);
    assert.equal(dueRefill(monthly, at('2024-02-01T00:00:00.000Z')), '2024-02-01T00:00:00.000Z');
    const december: QuotaState = { ...monthly, period: '2023-12-01T00:00:00.000Z' };
    assert.equal(dueRefill(december, at('2023-12-31T23:59:59.999Z')), undefined);
    assert.equal(dueRefill(december, at('2024-01-01T00:00:00.000Z')), '2024-01-01T00:00:00.000Z');
  });
});

describe('quotaAsOf', () => {
  test('without refill: the count as it is, and no next refill', () => {
    assert.deepEqual(quotaAsOf({ remaining: 7, refill: null, period: null }, at('2024-03-10T13:45:00.000Z')), { remaining: 7, nextRefillAt: null });
    assert.deepEqual(quotaAsOf({ remaining: 0, refill: null, period: null }, at('2024-03-10T13:45:00.000Z')), { remaining: 0, nextRefillAt: null });
  });

  test('within the period: the count, and the end of this period', () => {
    const quota: QuotaState = { remaining: 3, refill: { amount: 10, interval: 'hour' }, period: '2024-03-10T13:00:00.000Z' };
    assert.deepEqual(quotaAsOf(quota, at('2024-03-10T13:45:00.000Z')), { remaining: 3, nextRefillAt: '2024-03-10T14:00:00.000Z' });
  });

  test('a refill that is due counts as done: the amount, and the end of the current period', () => {
    const quota: QuotaState = { remaining: 0, refill: { amount: 10, interval: 'hour' }, period: '2000-01-01T00:00:00.000Z' };
    assert.deepEqual(quotaAsOf(quota, at('2024-03-10T13:45:00.000Z')), { remaining: 10, nextRefillAt: '2024-03-10T14:00:00.000Z' });
    assert.deepEqual(quotaAsOf({ ...quota, period: null }, at('2024-03-10T13:45:00.000Z')), { remaining: 10, nextRefillAt: '2024-03-10T14:00:00.000Z' });
  });

  test('daily and monthly next refills: midnight, the 1st, across the year end and a leap day', () => {
    const daily: QuotaState = { remaining: 1, refill: { amount: 5, interval: 'day' }, period: '2023-12-31T00:00:00.000Z' };
    assert.deepEqual(quotaAsOf(daily, at('2023-12-31T22:00:00.000Z')), { remaining: 1, nextRefillAt: '2024-01-01T00:00:00.000Z' });
    assert.deepEqual(quotaAsOf(daily, at('2024-01-01T00:00:00.001Z')), { remaining: 5, nextRefillAt: '2024-01-02T00:00:00.000Z' });
    const monthly: QuotaState = { remaining: 2, refill: { amount: 9, interval: 'month' }, period: '2024-01-01T00:00:00.000Z' };
    assert.deepEqual(quotaAsOf(monthly, at('2024-01-31T23:59:59.999Z')), { remaining: 2, nextRefillAt: '2024-02-01T00:00:00.000Z' });
    assert.deepEqual(quotaAsOf(monthly, at('2024-02-29T12:00:00.000Z')), { remaining: 9, nextRefillAt: '2024-03-01T00:00:00.000Z' });
    assert.deepEqual(quotaAsOf({ ...monthly, period: '2024-12-01T00:00:00.000Z' }, at('2024-12-31T23:00:00.000Z')), {
      remaining: 2,
      nextRefillAt: '2025-01-01T00:00:00.000Z',
    });
  });
});
