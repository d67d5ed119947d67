import { expect, test } from 'vitest'
import { formatInstant, formatRelative, formatSpan } from './time-format.js'

test('spans read as a person would say them', () => {
  expect(formatSpan(0)).toBe('0 seconds')
  expect(formatSpan(1_000)).toBe('1 second')
  expect(formatSpan(90_000)).toBe('90 seconds')
  expect(formatSpan(899_600)).toBe('15 minutes')
  expect(formatSpan(600_000)).toBe('10 minutes')
  expect(formatSpan(86_399_000)).toBe('24 hours')
  expect(formatSpan(2_592_000_000)).toBe('30 days')
})

test('instants are ISO 8601 UTC to the second; relative times say in/ago', () => {
  expect(formatInstant(Date.UTC(2026, 10, 1, 12, 0, 0, 999))).toBe('2026-11-01T12:00:00Z')
  expect(formatRelative(10_000 + 600_000, 10_000)).toBe('in 10 minutes')
  expect(formatRelative(10_000, 10_000 + 180_000)).toBe('3 minutes ago')
})
