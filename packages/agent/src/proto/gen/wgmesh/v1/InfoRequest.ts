// Original file: ../../proto/wgmesh/v1/agent.proto


export interface InfoRequest {
}

export interface InfoRequest__Output {
}
