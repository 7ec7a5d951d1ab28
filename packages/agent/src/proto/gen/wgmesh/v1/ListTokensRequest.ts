// Original file: ../../proto/wgmesh/v1/agent.proto


export interface ListTokensRequest {
}

export interface ListTokensRequest__Output {
}
