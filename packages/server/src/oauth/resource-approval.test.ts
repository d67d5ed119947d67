import { describe, expect, test } from 'vitest'
import { authorizedResources, grantedResource, narrowedResource, personApprovesResources, precheckedResource } from './resource.js'

// A client no operator registered (dynamic registration, metadata document) names the resources
// the person approves at /authorize; an operator's client stays within its allowed_audiences.

const MCP = 'https://mcp.example/mcp'
const operators = { registration: 'admin' as const, default_resource: null, allowed_audiences: ['https://api.example/'] }
const dynamic = { registration: 'dynamic' as const, default_resource: null, allowed_audiences: [] }
const document = { registration: 'metadata_document' as const, default_resource: null, allowed_audiences: [] }

describe('resources of clients that registered themselves', () => {
  test('only dynamic and metadata-document clients have their resources approved by the person', () => {
    expect([operators, dynamic, document, { registration: null }].map(personApprovesResources)).toEqual([false, true, true, false])
  })

  test('at /authorize any resource URI is allowed for them, still checked for form; an operator client stays within its list', () => {
    expect(authorizedResources([MCP], dynamic)).toBe(MCP)
    expect(authorizedResources([MCP], document)).toBe(MCP)
    expect(() => authorizedResources(['not a uri'], dynamic)).toThrow(expect.objectContaining({ code: 'invalid_target' }))
    expect(() => authorizedResources([`${MCP}#x`], dynamic)).toThrow(expect.objectContaining({ code: 'invalid_target' }))
    expect(() => authorizedResources([MCP], operators)).toThrow(expect.objectContaining({ code: 'invalid_target' }))
  })

  test('the code exchange narrows to what was approved and never widens', () => {
    expect(narrowedResource(MCP, MCP, dynamic)).toBe(MCP)
    expect(narrowedResource(undefined, MCP, dynamic)).toBe(MCP)
    expect(() => narrowedResource('https://other.example/', MCP, dynamic)).toThrow(expect.objectContaining({ code: 'invalid_target' }))
    // Nothing approved at /authorize: the client's own (empty) list decides.
    expect(() => narrowedResource(MCP, null, dynamic)).toThrow(expect.objectContaining({ code: 'invalid_target' }))
  })

  test('before a code is spent, their resource is checked for form only; elsewhere their empty list applies', () => {
    expect(() => precheckedResource(MCP, dynamic)).not.toThrow()
    expect(() => precheckedResource('relative/path', dynamic)).toThrow(expect.objectContaining({ code: 'invalid_target' }))
    expect(() => precheckedResource(MCP, operators)).toThrow(expect.objectContaining({ code: 'invalid_target' }))
    expect(() => grantedResource(MCP, dynamic)).toThrow(expect.objectContaining({ code: 'invalid_target' }))
  })
})
