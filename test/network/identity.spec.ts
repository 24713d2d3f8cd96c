/**
 * Identity key file: created once with mode 0600, reloaded with the same peer id, loose
 * permissions fixed or refused, corrupt files reported and left alone.
 */
import assert from 'node:assert/strict'
import { chmodSync, readFileSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { describe, it } from 'node:test'
import { generateKeyPair } from '@libp2p/crypto/keys'
import { peerIdFromPrivateKey } from '@libp2p/peer-id'
import { IdentityCorruptError, IdentityPermissionError } from '../../src/network/errors.js'
import { exportIdentity, importIdentity, loadOrCreateIdentity } from '../../src/network/identity.js'
import { tempDir } from './helpers.js'

describe('identity', () => {
  it('is created on first use with mode 0600 and reloaded with the same peer id', async () => {
    const t = tempDir()
    try {
      const path = join(t.dir, 'sub', 'identity.key')
      const first = await loadOrCreateIdentity(path)
      assert.equal(first.created, true)
      assert.equal(first.privateKey.type, 'Ed25519')
      assert.equal(statSync(path).mode & 0o777, 0o600)
      assert.equal(statSync(join(t.dir, 'sub')).mode & 0o077, 0)
      const again = await loadOrCreateIdentity(path)
      assert.equal(again.created, false)
      assert.equal(again.peerId, first.peerId)
      assert.ok(again.privateKey.equals(first.privateKey))
    } finally {
      t.cleanup()
    }
  })

  it('fixes loose permissions (with a warning) or refuses them on request', async () => {
    const t = tempDir()
    try {
      const path = join(t.dir, 'identity.key')
      const { peerId } = await loadOrCreateIdentity(path)
      chmodSync(path, 0o644)
      await assert.rejects(loadOrCreateIdentity(path, { onLoosePermissions: 'refuse' }), IdentityPermissionError)
      assert.equal(statSync(path).mode & 0o777, 0o644, 'refuse leaves the file as it was')
      const warnings: string[] = []
      const id = await loadOrCreateIdentity(path, { warn: (m) => warnings.push(m) })
      assert.equal(id.peerId, peerId)
      assert.equal(statSync(path).mode & 0o777, 0o600)
      assert.match(warnings[0] ?? '', /0644/)
    } finally {
      t.cleanup()
    }
  })

  it('a corrupt file is a typed error and is never replaced', async () => {
    const t = tempDir()
    try {
      const path = join(t.dir, 'identity.key')
      for (const junk of ['not base64 at all!', Buffer.from('garbage bytes that are no key').toString('base64'), '']) {
        writeFileSync(path, junk, { mode: 0o600 })
        await assert.rejects(loadOrCreateIdentity(path), IdentityCorruptError)
        assert.equal(readFileSync(path, 'utf8'), junk)
      }
    } finally {
      t.cleanup()
    }
  })

  it('export/import round-trips the key', async () => {
    const key = await generateKeyPair('Ed25519')
    const text = exportIdentity(key)
    assert.match(text, /^[A-Za-z0-9+/=]+\n$/)
    const back = importIdentity(text)
    assert.equal(peerIdFromPrivateKey(back).toString(), peerIdFromPrivateKey(key).toString())
    assert.throws(() => importIdentity('@@@'), IdentityCorruptError)
  })
})
