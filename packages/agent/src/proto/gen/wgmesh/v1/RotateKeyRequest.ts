// Original file: ../../proto/wgmesh/v1/agent.proto


export interface RotateKeyRequest {
}

export interface RotateKeyRequest__Output {
}
