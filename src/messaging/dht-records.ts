/**
 * Messaging's DHT record type, as the node's composition hands it to the network: signed
 * per-signer advert records (advert-record.ts) with their quota datastore (advert-store.ts). Every
 * DHT node must validate and quota them, whether or not it runs messaging itself; the network
 * layer knows no record type of its own.
 */
import { ADVERT_NAMESPACE, advertSelector, advertValidator } from './advert-record.js'
import { AdvertQuotaDatastore } from './advert-store.js'
import type { DhtRecordOptions } from '../network/types.js'

export function advertDhtRecords (): DhtRecordOptions {
  return {
    validators: { [ADVERT_NAMESPACE]: advertValidator },
    selectors: { [ADVERT_NAMESPACE]: advertSelector },
    datastore: () => new AdvertQuotaDatastore()
  }
}
