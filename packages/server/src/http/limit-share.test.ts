import { RateLimiterRes } from 'rate-limiter-flexible'
import { expect, test } from 'vitest'
import { memoryLimitBackend } from './limit-backend.js'

// docs/architecture.md "Workers": with `--workers N` and in-memory limits, each process counts on
// its share of the budget, so N processes together never allow more than the budget.

const consumeAll = async (processes: number, points: number, attempts: number) => {
  const counter = memoryLimitBackend(processes).counter({ name: 'share', points, durationSeconds: 60 })
  let allowed = 0
  for (let i = 0; i < attempts; i++) {
    try {
      await counter.consume('203.0.113.7')
      allowed++
    } catch (err) {
      expect(err).toBeInstanceOf(RateLimiterRes)
    }
  }
  return allowed
}

test('one process has the whole budget', async () => {
  expect(await consumeAll(1, 10, 20)).toBe(10)
})

test('each of N processes has floor(budget / N), so together they stay within the budget', async () => {
  expect(await consumeAll(2, 10, 20)).toBe(5)
  expect(await consumeAll(3, 10, 20)).toBe(3)
  expect(3 * (await consumeAll(3, 10, 20))).toBeLessThanOrEqual(10)
})

test('a budget smaller than the number of processes still allows one each', async () => {
  expect(await consumeAll(4, 2, 5)).toBe(1)
})
