// Original file: ../../proto/wgmesh/v1/agent.proto


export interface NodesRequest {
}

export interface NodesRequest__Output {
}
