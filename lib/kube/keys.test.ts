import assert from 'node:assert/strict'
import { constantKey, objectKey, ownerKeys, splitKey } from './keys.ts'

describe('reconcile keys', () => {
  it('objectKey and splitKey round-trip namespaced and cluster-scoped names', () => {
    assert.equal(objectKey({ metadata: { namespace: 'ns', name: 'a' } }), 'ns/a')
    assert.equal(objectKey({ metadata: { name: 'node-1' } }), 'node-1')
    assert.deepEqual(splitKey('ns/a'), { namespace: 'ns', name: 'a' })
    assert.deepEqual(splitKey('node-1'), { namespace: undefined, name: 'node-1' })
  })

  it('ownerKeys maps a child to owners of the given kind and group only', () => {
    const child = {
      metadata: {
        namespace: 'ns',
        name: 'child',
        ownerReferences: [
          { apiVersion: 'sbc.example.com/v1alpha1', kind: 'SessionBorderController', name: 'edge', uid: '1' },
          { apiVersion: 'other.example.com/v1', kind: 'SessionBorderController', name: 'x', uid: '2' },
          { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'rs', uid: '3' },
        ],
      },
    }
    assert.deepEqual(ownerKeys('SessionBorderController', 'sbc.example.com/v1')(child), ['ns/edge'])
    assert.deepEqual(ownerKeys('SessionBorderController')(child), ['ns/edge', 'ns/x'])
    assert.deepEqual(ownerKeys('Deployment')(child), [])
    assert.equal(constantKey('sbc/config')(), 'sbc/config')
  })
})
