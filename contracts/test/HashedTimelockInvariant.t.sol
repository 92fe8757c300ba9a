// SPDX-License-Identifier: MIT
pragma solidity ^0.8.24;

import {TestBase} from "./utils/TestBase.sol";
import {HashedTimelock} from "../src/HashedTimelock.sol";
import {TestToken} from "../src/TestToken.sol";
import {NoBoolToken} from "../src/NoBoolToken.sol";

/// @notice Drives the escrow with random locks, batches, claims, refunds and clock moves,
/// including forbidden ones (wrong preimage, wrong time, settling twice), and keeps a
/// ledger of what should be escrowed. Every action is wrapped so that the handler itself
/// never reverts; an outcome that differs from the rules is recorded as a violation.
contract TimelockHandler is TestBase {
    HashedTimelock public immutable htlc;
    address[3] public tokens; // native, OpenZeppelin ERC-20, no-bool ERC-20
    address[4] internal actors;

    struct Swap {
        address sender;
        address recipient;
        address token;
        uint256 amount;
        bytes32 preimage;
        bytes32 hashlock;
        uint256 timelock;
        bytes32 id;
    }

    Swap[] internal swaps;
    uint256 public clock;
    mapping(address => uint256) public openAmount; // token => sum of Locked swaps
    mapping(bytes32 => uint256) public settlements; // id => successful claims + refunds
    mapping(bytes32 => bool) public claimed;
    mapping(bytes32 => bool) public refunded;
    uint256 public violations;
    string public lastViolation;
    uint256 public claims;
    uint256 public refunds;

    constructor(HashedTimelock htlc_) {
        htlc = htlc_;
        // Deployed here so that this handler owns them and can mint.
        tokens =
            [address(0), address(new TestToken("USD Coin", "USDC", 6)), address(new NoBoolToken("Tether", "USDT", 6))];
        for (uint256 i = 0; i < actors.length; ++i) {
            actors[i] = address(uint160(uint256(keccak256(abi.encode("actor", i)))));
        }
        clock = block.timestamp;
    }

    function swapCount() external view returns (uint256) {
        return swaps.length;
    }

    function swapAt(uint256 i) external view returns (Swap memory) {
        return swaps[i];
    }

    // ----- actions -----

    function warp(uint256 seconds_) external {
        clock += bound(seconds_, 0, 2 hours);
        vm.warp(clock);
    }

    /// Moves the clock to one second before, or exactly to, a swap's timelock (never back).
    function warpToTimelock(uint256 index, bool exact) external {
        if (swaps.length == 0) return;
        uint256 target = swaps[index % swaps.length].timelock - (exact ? 0 : 1);
        if (target > clock) clock = target;
        vm.warp(clock);
    }

    /// Locks one swap. `valueSkew` 1 or 2 sends one wei more or less than required,
    /// which must be refused.
    function lock(uint256 actorSeed, uint256 tokenSeed, uint256 amount, uint256 secret, uint256 ttl, uint8 valueSkew)
        external
    {
        vm.warp(clock);
        Swap memory s = _terms(actorSeed, actorSeed >> 128, tokenSeed, amount, secret, ttl);
        (uint256 value, bool exact) = _skewed(s.token == address(0) ? s.amount : 0, valueSkew);
        bool allowed = exact && htlc.stateOf(s.id) == HashedTimelock.State.None;
        _fund(s.sender, s.token, s.amount);
        vm.deal(s.sender, s.sender.balance + 1);
        vm.startPrank(s.sender);
        if (s.token == tokens[1]) TestToken(s.token).approve(address(htlc), s.amount);
        else if (s.token == tokens[2]) NoBoolToken(s.token).approve(address(htlc), s.amount);
        try htlc.lock{value: value}(s.recipient, s.token, s.amount, s.hashlock, s.timelock) returns (bytes32 id) {
            if (!allowed) _violation("forbidden lock succeeded");
            _recordLock(s, id);
        } catch {
            if (allowed) _violation("allowed lock reverted");
        }
        vm.stopPrank();
    }

    /// Locks one to three swaps in one call, with the same value skew as `lock`.
    function lockBatch(uint256 seed, uint256 count, uint8 valueSkew) external {
        vm.warp(clock);
        count = bound(count, 1, 3);
        address sender = actors[seed % actors.length];
        HashedTimelock.LockParams[] memory params = new HashedTimelock.LockParams[](count);
        Swap[] memory terms = new Swap[](count);
        uint256 native;
        bool fresh = true;
        for (uint256 i = 0; i < count; ++i) {
            uint256 r = uint256(keccak256(abi.encode(seed, i)));
            Swap memory s = _terms(seed, r, r >> 8, r >> 16, r >> 128, r >> 64);
            s.sender = sender;
            s.id = htlc.swapId(sender, s.recipient, s.token, s.amount, s.hashlock, s.timelock);
            if (htlc.stateOf(s.id) != HashedTimelock.State.None) fresh = false;
            for (uint256 j = 0; j < i; ++j) {
                if (terms[j].id == s.id) fresh = false;
            }
            terms[i] = s;
            params[i] = HashedTimelock.LockParams(s.recipient, s.token, s.amount, s.hashlock, s.timelock);
            _fund(sender, s.token, s.amount);
            if (s.token == address(0)) native += s.amount;
        }
        (uint256 value, bool exact) = _skewed(native, valueSkew);
        bool allowed = exact && fresh;
        vm.deal(sender, sender.balance + 1);
        vm.startPrank(sender);
        TestToken(tokens[1]).approve(address(htlc), type(uint256).max);
        NoBoolToken(tokens[2]).approve(address(htlc), type(uint256).max);
        try htlc.lockBatch{value: value}(params) returns (bytes32[] memory ids) {
            if (!allowed) _violation("forbidden batch succeeded");
            if (ids.length != count) _violation("batch returned wrong number of ids");
            for (uint256 i = 0; i < count; ++i) {
                _recordLock(terms[i], ids[i]);
            }
        } catch {
            if (allowed) _violation("allowed batch reverted");
        }
        TestToken(tokens[1]).approve(address(htlc), 0);
        NoBoolToken(tokens[2]).approve(address(htlc), 0);
        vm.stopPrank();
    }

    function claim(uint256 index, uint256 callerSeed, bool wrongPreimage) external {
        if (swaps.length == 0) return;
        vm.warp(clock);
        Swap memory s = swaps[index % swaps.length];
        bytes32 preimage = wrongPreimage ? keccak256(abi.encode(s.preimage)) : s.preimage;
        bool allowed =
            htlc.stateOf(s.id) == HashedTimelock.State.Locked && block.timestamp < s.timelock && !wrongPreimage;
        uint256 before = _balanceOf(s.token, s.recipient);
        vm.prank(actors[callerSeed % actors.length]);
        try htlc.claim(s.sender, s.recipient, s.token, s.amount, s.hashlock, s.timelock, preimage) {
            if (!allowed) _violation("forbidden claim succeeded");
            if (_balanceOf(s.token, s.recipient) != before + s.amount) _violation("claim paid wrong amount");
            openAmount[s.token] -= s.amount;
            settlements[s.id] += 1;
            claimed[s.id] = true;
            claims += 1;
        } catch {
            if (allowed) _violation("allowed claim reverted");
        }
    }

    function refund(uint256 index, uint256 callerSeed) external {
        if (swaps.length == 0) return;
        vm.warp(clock);
        Swap memory s = swaps[index % swaps.length];
        bool allowed = htlc.stateOf(s.id) == HashedTimelock.State.Locked && block.timestamp >= s.timelock;
        uint256 before = _balanceOf(s.token, s.sender);
        vm.prank(actors[callerSeed % actors.length]);
        try htlc.refund(s.sender, s.recipient, s.token, s.amount, s.hashlock, s.timelock) {
            if (!allowed) _violation("forbidden refund succeeded");
            // the caller may be the sender itself; it pays no gas here, so balances are exact
            if (_balanceOf(s.token, s.sender) != before + s.amount) _violation("refund paid wrong amount");
            openAmount[s.token] -= s.amount;
            settlements[s.id] += 1;
            refunded[s.id] = true;
            refunds += 1;
        } catch {
            if (allowed) _violation("allowed refund reverted");
        }
    }

    // ----- internals -----

    function _terms(
        uint256 actorSeed,
        uint256 recipientSeed,
        uint256 tokenSeed,
        uint256 amount,
        uint256 secret,
        uint256 ttl
    ) internal view returns (Swap memory s) {
        s.sender = actors[actorSeed % actors.length];
        s.recipient = actors[recipientSeed % actors.length];
        s.token = tokens[tokenSeed % tokens.length];
        s.amount = bound(amount, 1, 1e27);
        // A small secret space makes equal hashlocks (and repeated ids) likely.
        s.preimage = keccak256(abi.encode("secret", secret % 8));
        s.hashlock = sha256(abi.encodePacked(s.preimage));
        s.timelock = clock + bound(ttl, 1, 6 hours);
        s.id = htlc.swapId(s.sender, s.recipient, s.token, s.amount, s.hashlock, s.timelock);
    }

    function _skewed(uint256 required, uint8 skew) internal pure returns (uint256 value, bool exact) {
        skew %= 3;
        if (skew == 1) return (required + 1, false);
        if (skew == 2 && required > 0) return (required - 1, false);
        return (required, true);
    }

    function _fund(address who, address token, uint256 amount) internal {
        if (token == address(0)) {
            vm.deal(who, who.balance + amount);
        } else if (token == tokens[1]) {
            TestToken(token).mint(who, amount);
        } else {
            NoBoolToken(token).mint(who, amount);
        }
    }

    function _recordLock(Swap memory s, bytes32 id) internal {
        if (id != s.id) _violation("lock returned another id");
        if (htlc.stateOf(id) != HashedTimelock.State.Locked) _violation("lock did not record Locked");
        swaps.push(s);
        openAmount[s.token] += s.amount;
    }

    function _balanceOf(address token, address who) internal view returns (uint256) {
        return token == address(0) ? who.balance : TestToken(token).balanceOf(who);
    }

    function _violation(string memory what) internal {
        violations += 1;
        lastViolation = what;
    }
}

contract HashedTimelockInvariantTest is TestBase {
    HashedTimelock internal htlc;
    TimelockHandler internal handler;

    function setUp() public {
        vm.warp(1_700_000_000);
        htlc = new HashedTimelock();
        handler = new TimelockHandler(htlc);
        targetContract(address(handler));
    }

    function invariant_BalanceOfEachTokenEqualsSumOfOpenSwaps() public view {
        for (uint256 i = 0; i < 3; ++i) {
            address token = handler.tokens(i);
            uint256 held = token == address(0) ? address(htlc).balance : TestToken(token).balanceOf(address(htlc));
            assertEq(held, handler.openAmount(token), "escrow balance != sum of open swaps");
        }
    }

    function invariant_NoSwapIsBothClaimedAndRefunded() public view {
        uint256 n = handler.swapCount();
        for (uint256 i = 0; i < n; ++i) {
            bytes32 id = handler.swapAt(i).id;
            assertTrue(!(handler.claimed(id) && handler.refunded(id)), "swap both claimed and refunded");
            assertTrue(handler.settlements(id) <= 1, "swap settled more than once");
            HashedTimelock.State state = htlc.stateOf(id);
            if (handler.claimed(id)) {
                assertTrue(state == HashedTimelock.State.Claimed, "claimed swap not Claimed");
            } else if (handler.refunded(id)) {
                assertTrue(state == HashedTimelock.State.Refunded, "refunded swap not Refunded");
            } else {
                assertTrue(state == HashedTimelock.State.Locked, "open swap not Locked");
            }
        }
    }

    function invariant_EveryOutcomeFollowsTheRules() public view {
        assertEq(handler.violations(), 0, handler.lastViolation());
    }
}
