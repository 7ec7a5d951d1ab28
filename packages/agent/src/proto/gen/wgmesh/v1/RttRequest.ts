// Original file: ../../proto/wgmesh/v1/agent.proto


export interface RttRequest {
}

export interface RttRequest__Output {
}
