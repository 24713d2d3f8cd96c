/**
 * Swarm key file: format, parse (base16/base64/bin, with and without trailing newline, CRLF),
 * named errors for bad header / encoding / length, and 0600 files on disk.
 */
import assert from 'node:assert/strict'
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { test } from 'node:test'
import { formatSwarmKey, generateSwarmKey, parseSwarmKey, readSwarmKeyFile, writeSwarmKeyFile } from '../../src/swarm/key-file.js'

const HEX = 'dffb7e3135399a8b1612b2aaca1c36a3a8ac2cd0cca51ceeb2ced87d308cac6d'

test('parses the Kubo/go-libp2p base16 form with and without trailing newline and CRLF', () => {
  const expected = Buffer.from(HEX, 'hex')
  for (const text of [
    `/key/swarm/psk/1.0.0/\n/base16/\n${HEX}`,
    `/key/swarm/psk/1.0.0/\n/base16/\n${HEX}\n`,
    `/key/swarm/psk/1.0.0/\r\n/base16/\r\n${HEX}\r\n`,
    `/key/swarm/psk/1.0.0/\n/base16/\n${HEX.toUpperCase()}\n`
  ]) {
    assert.deepEqual(Buffer.from(parseSwarmKey(text)), expected)
    assert.deepEqual(Buffer.from(parseSwarmKey(new TextEncoder().encode(text))), expected)
  }
})

test('parses base64 and bin encodings', () => {
  const key = generateSwarmKey()
  assert.deepEqual(parseSwarmKey(formatSwarmKey(key, 'base64')), key)
  const bin = Buffer.concat([Buffer.from('/key/swarm/psk/1.0.0/\n/bin/\n'), key])
  assert.deepEqual(parseSwarmKey(bin), key)
})

test('format is byte-identical to the go-libp2p generator form', () => {
  assert.equal(formatSwarmKey(Buffer.from(HEX, 'hex')), `/key/swarm/psk/1.0.0/\n/base16/\n${HEX}\n`)
  assert.equal(generateSwarmKey().byteLength, 32)
  assert.notDeepEqual(generateSwarmKey(), generateSwarmKey())
})

test('malformed keys throw named errors', () => {
  const bad: Array<[string, string, string]> = [
    [`/key/swarm/psk/2.0.0/\n/base16/\n${HEX}`, 'SwarmKeyHeaderError', 'header'],
    [`${HEX}`, 'SwarmKeyHeaderError', 'header'],
    ['', 'SwarmKeyHeaderError', 'header'],
    [`/key/swarm/psk/1.0.0/\n/base32/\n${HEX}`, 'SwarmKeyEncodingError', 'encoding'],
    [`/key/swarm/psk/1.0.0/\n/base16/\n${HEX.slice(0, 63)}z`, 'SwarmKeyEncodingError', 'encoding'],
    ['/key/swarm/psk/1.0.0/\n/base16/\n', 'SwarmKeyEncodingError', 'encoding'],
    [`/key/swarm/psk/1.0.0/\n/base16/\n${HEX}\nextra`, 'SwarmKeyEncodingError', 'encoding'],
    [`/key/swarm/psk/1.0.0/\n/base16/\n${HEX.slice(0, 62)}`, 'SwarmKeyLengthError', 'length'],
    [`/key/swarm/psk/1.0.0/\n/base16/\n${HEX}00`, 'SwarmKeyLengthError', 'length'],
    ['/key/swarm/psk/1.0.0/\n/base64/\nAAAA', 'SwarmKeyLengthError', 'length']
  ]
  for (const [text, name, reason] of bad) {
    assert.throws(() => parseSwarmKey(text), (err: Error & { reason?: string }) => {
      assert.equal(err.name, name, `for ${JSON.stringify(text)}`)
      assert.equal(err.reason, reason)
      return true
    })
  }
  assert.throws(() => formatSwarmKey(new Uint8Array(31)), { name: 'SwarmKeyLengthError' })
})

test('write/read a key file with mode 0600', (t) => {
  const dir = mkdtempSync(join(tmpdir(), `dmsnet-swarmkey-${process.pid}-`))
  t.after(() => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'sub', 'swarm.key')
  const key = generateSwarmKey()
  writeSwarmKeyFile(path, key)
  assert.equal(statSync(path).mode & 0o777, 0o600)
  assert.deepEqual(readSwarmKeyFile(path), key)
  assert.match(readFileSync(path, 'utf8'), /^\/key\/swarm\/psk\/1\.0\.0\/\n\/base16\/\n[0-9a-f]{64}\n$/)
})
